// Public surface of libs/metrics (filled in by its issue).
export {};
