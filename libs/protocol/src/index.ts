// Public surface of libs/protocol (filled in by its issue).
export {};
