"""Independent reference values for rdp-accountant.spec.ts.

A_alpha of the sampled Gaussian mechanism by direct numerical integration (mpmath.quad over the
real line, 40 digits), with no use of the binomial/erfc series the TypeScript accountant uses:

    A_alpha = integral of mu0(z) * ((1 - q) + q * exp((2z - 1) / (2 sigma^2)))^alpha dz,
    mu0 = N(0, sigma^2);  RDP(alpha) = steps * log(A_alpha) / (alpha - 1)

then (epsilon, delta) by Balle et al. 2020's conversion over Opacus's default orders.
Run: python3 rdp-reference.py   (mpmath; printed values are pasted into the spec)
"""
import math

import mpmath

mpmath.mp.dps = 40
ORDERS = [1 + x / 10 for x in range(1, 100)] + list(range(12, 64))


def log_a(q, sigma, alpha):
    def f(z):
        mu0 = mpmath.npdf(z, 0, sigma)
        return mu0 * ((1 - q) + q * mpmath.exp((2 * z - 1) / (2 * sigma**2))) ** alpha

    # Split at the integrand's bulk so quad resolves it at large alpha.
    peak = alpha / 1.0
    return float(mpmath.log(mpmath.quad(f, [-mpmath.inf, 0, 0.5, peak, mpmath.inf])))


def epsilon(q, sigma, steps, delta):
    best = (math.inf, None)
    for a in ORDERS:
        r = steps * log_a(q, sigma, a) / (a - 1)
        if delta**2 + math.expm1(-r) > 0:
            eps = 0.0
        elif a > 1.01:
            eps = r + math.log1p(-1 / a) - math.log(delta * a) / (a - 1)
        else:
            eps = math.inf
        if eps < best[0]:
            best = (eps, a)
    return best


if __name__ == "__main__":
    for q, sigma, steps, delta in [(0.5, 1.2, 100, 1e-5), (0.01, 1.1, 1000, 1e-5), (0.2, 0.8, 30, 1e-6)]:
        eps, order = epsilon(q, sigma, steps, delta)
        print(f"q={q} sigma={sigma} steps={steps} delta={delta}: epsilon={eps:.10f} order={order}")
    for q, sigma, a in [(0.5, 1.2, 2.5), (0.01, 1.1, 7.3), (0.2, 0.8, 3)]:
        print(f"log A q={q} sigma={sigma} alpha={a}: {log_a(q, sigma, a):.12e}")
