import { PhccError } from '../../common/src';

/**
 * Every way a weight buffer or a set of named arrays can be wrong. Codes are stable so that the
 * coordinator can log and count rejections by reason; `tensor` names the offending tensor when
 * there is one, so a site operator can tell which layer of which update went wrong.
 */
export type WeightCodecErrorCode =
  | 'TRUNCATED'
  | 'BAD_MAGIC'
  | 'UNSUPPORTED_VERSION'
  | 'CORRUPT_HEADER'
  | 'UNKNOWN_DTYPE'
  | 'BAD_NAME'
  | 'DUPLICATE_NAME'
  | 'NOT_SORTED'
  | 'BAD_SHAPE'
  | 'LENGTH_MISMATCH'
  | 'MISALIGNED'
  | 'OVERLAP'
  | 'GAP'
  | 'OUT_OF_RANGE'
  | 'BAD_PADDING'
  | 'TRAILING_BYTES'
  | 'BAD_SCALE'
  | 'TOO_LARGE'
  | 'NAME_MISMATCH'
  | 'SHAPE_MISMATCH'
  | 'NON_FINITE';

/**
 * A weight buffer or weight arrays that cannot be used. Exit code 2: it is always the data handed
 * in (a file, an update from a site) that is wrong, never a failure of the process itself.
 */
export class WeightCodecError extends PhccError {
  constructor(
    message: string,
    override readonly code: WeightCodecErrorCode,
    readonly tensor?: string,
  ) {
    super(message, code, 2);
  }
}
