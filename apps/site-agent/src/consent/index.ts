// The site's consent to a run plan: digest, reviewable summary, approvals, site limits, decision.
export * from './plan';
export * from './summary';
export * from './approvals';
export * from './decide';
export * from './gate';
