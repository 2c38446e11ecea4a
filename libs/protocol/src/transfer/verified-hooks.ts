import { VerifiedMessage, EnvelopeVerifier } from '../envelope/verifier';
import { ok } from '../errors';
import { ackError, AckReply } from './ack';
import { TransferReceiverOptions } from './receiver';

/**
 * The usual wiring of a TransferReceiver to an EnvelopeVerifier: the header is verified when the
 * transfer begins (nonce not yet used up), and again with its payload when it ends (nonce used
 * up), so a payload reaches `onMessage` only authentic, fresh, in scope and intact.
 */
export function verifierTransferHooks(
  verifier: EnvelopeVerifier,
  onMessage: (message: VerifiedMessage, payload: Buffer) => Promise<AckReply> | AckReply,
): Pick<TransferReceiverOptions, 'admit' | 'deliver'> {
  return {
    admit(envelope) {
      const result = verifier.verify(envelope, { consumeNonce: false });
      if (!result.ok) return result;
      const { payloadBytes, digest } = result.value.envelope;
      return ok({ payloadBytes, digest: digest ?? '' });
    },
    deliver(envelope, payload, digest) {
      const result = verifier.verify(envelope, { payload, payloadDigest: digest });
      return result.ok ? onMessage(result.value, payload) : ackError(result.error);
    },
  };
}
