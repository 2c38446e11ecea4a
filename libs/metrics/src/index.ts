/**
 * libs/metrics: AUC/ROC, DeLong intervals and tests, stratified bootstrap, pooled AUC from site
 * histograms, calibration, and the CSV reader behind `phcc-fed roc`. Numbers agree with pROC.
 */
export * from './binary-scores';
export * from './roc';
export * from './delong';
export * from './bootstrap';
export * from './pooled';
export * from './meta-analysis';
export * from './threshold';
export * from './calibration';
export * from './distributions';
export * from './scores-csv';
export * from './private-histogram';
