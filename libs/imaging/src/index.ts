// Public surface of libs/imaging (filled in by its issue).
export {};
