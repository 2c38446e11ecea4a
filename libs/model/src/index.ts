// Public surface of libs/model (filled in by its issue).
export {};
