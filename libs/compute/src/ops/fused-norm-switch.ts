/**
 * Switch for the fused LayerNorm and GRN kernels: `PHCC_FUSED_NORMS=0` (or tests and the
 * before/after benchmark setting `enabled`) runs the composed ops instead, so a kernel bug can be
 * ruled out in the field and the two can be compared in one run.
 */
export const fusedNormSwitch = { enabled: process.env.PHCC_FUSED_NORMS !== '0' };
