/**
 * Owner-only modes for everything the coordinator and the provisioning commands write (database,
 * its WAL, blobs, kits): they hold the audit trail, token hashes, keys and models.
 */
export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;
