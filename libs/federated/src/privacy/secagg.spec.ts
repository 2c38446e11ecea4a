import nacl from 'tweetnacl';
import { Rng } from '../../../common/src';
import { keyPairFromSecret, newKeyPair, sharedPoint } from './key-agreement';
import { decodeFixedPoint, encodeFixedPoint, fixedPointFor } from './fixed-point';
import { neighbourGraph } from './neighbours';
import { addMaskInto, expandMask } from './prg';
import { packRing, ringAddInto, unpackRing } from './ring';
import { SecAggConfig, SecAggError } from './secagg-messages';
import { runSecAggInMemory } from './secagg-memory';
import { SecAggServer } from './secagg-server';
import { SecAggSite } from './secagg-site';

const BITS = 32;

function siteIds(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `site-${String(i + 1).padStart(3, '0')}`);
}

/** n sites' clear inputs: encoded reals in ±1, plus their exact ring sum. */
function clearInputs(ids: string[], length: number, seed = 7) {
  const fp = fixedPointFor({ sites: ids.length, maxAbs: 1, ringBits: BITS });
  const rng = new Rng(seed);
  const inputs = new Map<string, Float64Array>();
  const reals = new Map<string, Float64Array>();
  for (const id of ids) {
    const values = Float64Array.from({ length }, () => rng.uniform(-1, 1));
    const encoded = new Float64Array(length);
    encodeFixedPoint(values, fp, encoded);
    inputs.set(id, encoded);
    reals.set(id, values);
  }
  const ringSum = (only: (id: string) => boolean) => {
    const acc = new Float64Array(length);
    for (const [id, x] of inputs) if (only(id)) ringAddInto(acc, x, BITS);
    return acc;
  };
  return { fp, inputs, reals, ringSum };
}

function config(threshold: number, neighbours: number | null, vectorLength: number): SecAggConfig {
  return { roundId: 'run-1/r3', threshold, neighbours, ringBits: BITS, vectorLength };
}

/** Steps 1–2 of a round by hand (keys advertised, shares routed), for tests that go on step by step. */
function throughShares(ids: string[], cfg: SecAggConfig) {
  const server = new SecAggServer(cfg);
  const sites = ids.map((id) => new SecAggSite(id, cfg));
  sites.forEach((s) => server.receiveKeys(s.advertise()));
  const directory = server.closeKeys();
  sites.forEach((s) => server.receiveShares(s.shareKeys(directory)));
  return { server, sites, inboxes: server.closeShares() };
}

describe('PRG (ChaCha20 keystream)', () => {
  it('matches RFC 8439 A.1 test vector #1 (zero key, zero nonce, counter 0)', () => {
    // Keystream 76 b8 e0 ad a0 f1 3d 90 … read as little-endian 32-bit words.
    expect(Array.from(expandMask(new Uint8Array(32), 2, 32))).toEqual([0xade0b876, 0x903df1a0]);
  });

  it('is deterministic, uniform-looking and cancels when added and subtracted', () => {
    const seed = new Uint8Array(32).fill(9);
    const a = expandMask(seed, 100_000, 20);
    expect(expandMask(seed, 100_000, 20)).toEqual(a);
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    expect(Math.abs(mean / 2 ** 20 - 0.5)).toBeLessThan(0.01);
    expect(Math.max(...a)).toBeLessThan(2 ** 20);
    const acc = Float64Array.from({ length: 1000 }, (_, i) => i);
    addMaskInto(acc, seed, 48, 1);
    addMaskInto(acc, seed, 48, -1);
    expect(Array.from(acc)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });
});

describe('fixed point and ring', () => {
  it('sums of encodings decode to sums of values within the rounding bound', () => {
    const { fp, reals, ringSum } = clearInputs(siteIds(10), 500);
    const decoded = decodeFixedPoint(
      ringSum(() => true),
      fp,
    );
    for (let i = 0; i < 500; i++) {
      let exact = 0;
      for (const v of reals.values()) exact += v[i];
      expect(Math.abs(decoded[i] - exact)).toBeLessThanOrEqual(10 * 2 ** -(fp.fractionBits + 1));
    }
  });

  it('states and checks the overflow bound', () => {
    const fp = fixedPointFor({ sites: 100, maxAbs: 1, ringBits: 32 });
    expect(fp.fractionBits).toBe(23); // ⌊31 − log2(100·1 + 100)⌋ = ⌊23.36⌋
    expect(() => fixedPointFor({ sites: 1e6, maxAbs: 1e3, ringBits: 32 })).toThrow(/fractional bits/);
    expect(() => encodeFixedPoint([1.5], fp, new Float64Array(1))).toThrow(/outside the encodable range/);
    expect(() => encodeFixedPoint([NaN], fp, new Float64Array(1))).toThrow(/outside the encodable range/);
  });

  it('packs to whole bytes and refuses out-of-ring elements on unpack', () => {
    const x = Float64Array.from([0, 1, 2 ** 40 - 1, 123456789012]);
    expect(unpackRing(packRing(x, 40), 40, 4)).toEqual(x);
    const bytes = packRing(Float64Array.from([2 ** 20 - 1]), 20);
    bytes[2] = 0xff;
    expect(() => unpackRing(bytes, 20, 1)).toThrow(/outside Z_2\^20/);
    expect(() => unpackRing(bytes, 20, 2)).toThrow(/expected 2 elements/);
  });
});

describe('SecAgg round', () => {
  it('unmasks to exactly the fixed-point sum of the clear inputs (complete graph)', () => {
    const ids = siteIds(5);
    const { inputs, ringSum } = clearInputs(ids, 257);
    const { sum, dropped } = runSecAggInMemory({ config: config(3, null, 257), inputs });
    expect(dropped).toEqual([]);
    expect(sum).toEqual(ringSum(() => true));
  });

  it.each([1, 2])(
    'with %i of 5 sites dropping after sharing keys (t = 3), yields the survivors’ exact sum',
    (drops) => {
      const ids = siteIds(5);
      const { inputs, ringSum } = clearInputs(ids, 64, drops);
      const gone = new Set(ids.slice(1, 1 + drops));
      const { sum, survivors, dropped } = runSecAggInMemory({
        config: config(3, null, 64),
        inputs,
        dropAfterShares: gone,
      });
      expect(dropped).toEqual([...gone].sort());
      expect(survivors).toHaveLength(5 - drops);
      expect(sum).toEqual(ringSum((id) => !gone.has(id)));
    },
  );

  it('fails clearly when more than n − t sites drop', () => {
    const ids = siteIds(5);
    const { inputs } = clearInputs(ids, 8);
    expect(() =>
      runSecAggInMemory({ config: config(3, null, 8), inputs, dropAfterShares: new Set(ids.slice(0, 3)) }),
    ).toThrow(/need 3 shares but only 2 holders/);
  });

  it('fails clearly when fewer than t shares come back', () => {
    const ids = siteIds(4);
    const { inputs } = clearInputs(ids, 8);
    const cfg = config(3, null, 8);
    const { server, sites, inboxes } = throughShares(ids, cfg);
    sites.forEach((s) => server.receiveMasked(s.maskInput(inboxes.get(s.siteId)!, inputs.get(s.siteId)!)));
    const request = server.closeMasked();
    // Only two sites answer the unmasking step: every self seed has 2 shares, 3 are needed.
    sites.slice(0, 2).forEach((s) => server.receiveUnmask(s.unmask(request)));
    expect(() => server.finish()).toThrow(/2 shares held but 3 are needed/);
  });

  it('the server never holds an individual unmasked input', () => {
    const ids = siteIds(4);
    const { inputs } = clearInputs(ids, 300);
    const cfg = config(3, null, 300);
    const server = new SecAggServer(cfg);
    const sites = ids.map((id) => new SecAggSite(id, cfg));
    const held: Float64Array[] = [];
    const snapshot = () => {
      const h = server.holdings();
      expect(Object.keys(h).sort()).toEqual([
        'adverts',
        'maskedFrom',
        'maskedSum',
        'phase',
        'revealed',
        'sealedShares',
      ]);
      if (h.maskedSum) held.push(Float64Array.from(h.maskedSum));
      for (const [, counts] of h.revealed)
        expect(counts.selfSeed === 0 || counts.maskingKey === 0).toBe(true);
    };
    sites.forEach((s) => server.receiveKeys(s.advertise()));
    const directory = server.closeKeys();
    sites.forEach((s) => server.receiveShares(s.shareKeys(directory)));
    snapshot();
    const inboxes = server.closeShares();
    // Site 4 drops after sharing: the server will learn its masking key, never its self seed.
    for (const s of sites.slice(0, 3)) {
      server.receiveMasked(s.maskInput(inboxes.get(s.siteId)!, inputs.get(s.siteId)!));
      snapshot();
    }
    const request = server.closeMasked();
    sites.slice(0, 3).forEach((s) => {
      server.receiveUnmask(s.unmask(request));
      snapshot();
    });
    // What it held after one input is that input masked: no element of any site's input shows through.
    const first = held[0];
    for (const x of inputs.values()) {
      const same = first.filter((v, i) => v === x[i]).length;
      expect(same).toBeLessThan(3); // a uniform mask leaves a match with probability 2^-32 per element
    }
    // Every later holding is a sum of at least two masked inputs.
    expect(held.length).toBeGreaterThan(3);
    expect(server.holdings().revealed.get(ids[3])).toEqual({ selfSeed: 0, maskingKey: 3 });
  });

  it('a site refuses to reveal both secrets of one neighbour and checks the order of steps', () => {
    const ids = siteIds(3);
    const cfg = config(2, null, 4);
    const early = new SecAggSite(ids[0], cfg);
    early.advertise();
    expect(() => early.maskInput({ to: ids[0], shares: [] }, new Float64Array(4))).toThrow(SecAggError);
    const { server, sites, inboxes } = throughShares(ids, cfg);
    const masked = sites.map((s) => s.maskInput(inboxes.get(s.siteId)!, new Float64Array(4)));
    expect(masked).toHaveLength(3);
    expect(() => sites[0].unmask({ roundId: cfg.roundId, survivors: ids, dropped: [ids[1]] })).toThrow(
      /both survivor and dropped/,
    );
    // A late input from a site the server declared dropped is refused.
    server.receiveMasked(masked[0]);
    server.receiveMasked(masked[1]);
    server.closeMasked();
    expect(() => server.receiveMasked(masked[2])).toThrow(/round is at unmask/);
  });

  it('refuses a tampered share and a directory that changed the site’s keys', () => {
    const ids = siteIds(3);
    const cfg = config(2, null, 4);
    const server = new SecAggServer(cfg);
    const sites = ids.map((id) => new SecAggSite(id, cfg));
    sites.forEach((s) => server.receiveKeys(s.advertise()));
    const directory = server.closeKeys();
    const other = new SecAggSite(ids[0], cfg);
    other.advertise();
    expect(() => other.shareKeys(directory)).toThrow(/keys it advertised/);
    sites.forEach((s) => server.receiveShares(s.shareKeys(directory)));
    const inbox = server.closeShares().get(ids[0])!;
    inbox.shares[0].ciphertext[30] ^= 1;
    expect(() => sites[0].maskInput(inbox, new Float64Array(4))).toThrow(/failed authentication/);
  });

  it('checks the threshold against the neighbourhood', () => {
    const ids = siteIds(6);
    const server = new SecAggServer(config(3, null, 4));
    ids.forEach((id) => server.receiveKeys(new SecAggSite(id, config(3, null, 4)).advertise()));
    expect(() => server.closeKeys()).toThrow(/threshold 3 must be an integer in \(3, 6\]/);
  });

  it('SecAgg+: a 100-site round on a 10-regular graph, 10 dropping, finishes in seconds and sums exactly', () => {
    const ids = siteIds(100);
    const { inputs, ringSum } = clearInputs(ids, 1000);
    const gone = new Set(ids.filter((_, i) => i % 10 === 3));
    const t0 = Date.now();
    const { sum, dropped } = runSecAggInMemory({
      config: config(7, 10, 1000),
      inputs,
      dropAfterShares: gone,
    });
    // ~3–8 s here on 2 shared cores; the bound catches an order-of-magnitude regression (the
    // pure-JS X25519 ladder took 186 s) without failing on a busy machine.
    expect(Date.now() - t0).toBeLessThan(60_000);
    expect(dropped).toHaveLength(10);
    expect(sum).toEqual(ringSum((id) => !gone.has(id)));
  });
});

describe('neighbour graph', () => {
  it('is k-regular, symmetric and changes with the round seed', () => {
    const ids = siteIds(20);
    const g = neighbourGraph(ids, 6, 'r1');
    for (const [id, ns] of g) {
      expect(ns.size).toBe(6);
      expect(ns.has(id)).toBe(false);
      for (const n of ns) expect(g.get(n)!.has(id)).toBe(true);
    }
    const h = neighbourGraph(ids, 6, 'r2');
    expect([...h.get(ids[0])!].sort()).not.toEqual([...g.get(ids[0])!].sort());
    expect(() => neighbourGraph(ids, 5, 'r1')).toThrow(/even integer/);
    expect(neighbourGraph(ids, 19, 'r1').get(ids[0])!.size).toBe(19);
  });
});

describe('X25519 key agreement', () => {
  it('agrees the same point as tweetnacl’s scalarMult, from either side', () => {
    const a = newKeyPair();
    const b = nacl.box.keyPair();
    expect(sharedPoint(a.secretKey, b.publicKey)).toEqual(nacl.scalarMult(a.secretKey, b.publicKey));
    expect(sharedPoint(b.secretKey, a.publicKey)).toEqual(sharedPoint(a.secretKey, b.publicKey));
    expect(keyPairFromSecret(b.secretKey).publicKey).toEqual(b.publicKey);
    expect(() => sharedPoint(a.secretKey, new Uint8Array(32))).toThrow(/low-order/);
  });
});
