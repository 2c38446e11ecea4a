// Public surface of libs/federated (filled in by its issue).
export {};
