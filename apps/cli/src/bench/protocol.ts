import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Server } from 'socket.io';
import { io } from 'socket.io-client';
import nacl from 'tweetnacl';
import { Rng } from '../../../../libs/common/src';
import {
  attachTransferReceiver,
  EnvelopeVerifier,
  newNonce,
  sendTransfer,
  signBytes,
  signEnvelope,
  socketIoTransport,
  TransferReceiver,
  verifierTransferHooks,
  verifyBytes,
} from '../../../../libs/protocol/src';
import { sampleBody, testKeyPair, testKeyring } from '../../../../libs/protocol/src/test-support/fixtures';
import { BenchFigures, BenchOptions, BenchSuite } from './suite';

const MB = 1024 * 1024;
const SITE = 'hospital-a';

interface Timing {
  wall: number;
  cpu: number;
}

/**
 * Wall and CPU seconds of one call. On a shared machine the wall time includes waiting for a core;
 * the CPU time (this process's user + system) is the work itself.
 */
function timed(fn: () => void): Timing {
  const cpu0 = process.cpuUsage();
  const t = performance.now();
  fn();
  const wall = (performance.now() - t) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { wall, cpu: (cpu.user + cpu.system) / 1e6 };
}

function bestOf(a: Timing, b: Timing): Timing {
  return { wall: Math.min(a.wall, b.wall), cpu: Math.min(a.cpu, b.cpu) };
}

function randomPayload(bytes: number): Buffer {
  const rng = new Rng(1);
  const words = new Uint32Array(bytes / 4);
  for (let i = 0; i < words.length; i++) words[i] = rng.nextUint32();
  return Buffer.from(words.buffer);
}

/** 50 MB through socket.io on 127.0.0.1 with the default 1 MB message limit; returns MB/s. */
async function loopbackThroughput(payload: Buffer, window: number, chunkBytes: number): Promise<number> {
  const http = createServer();
  const server = new Server(http);
  const keyring = testKeyring(SITE);
  let delivered = false;
  server.on('connection', (socket) => {
    const verifier = new EnvelopeVerifier({ keyring, maxPayloadBytes: payload.length });
    const receiver = new TransferReceiver({
      ...verifierTransferHooks(verifier, () => {
        delivered = true;
        return { ok: true };
      }),
      maxPayloadBytes: payload.length,
    });
    attachTransferReceiver(socket, receiver);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const client = io(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, {
    transports: ['websocket'],
    reconnection: false,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', resolve);
      client.once('connect_error', reject);
    });
    const env = signEnvelope({
      type: 'update',
      body: { ...sampleBody('update', SITE, Date.now()), nonce: newNonce() },
      signer: SITE,
      secretKey: testKeyPair(SITE).secretKey,
      payload,
    });
    const t = performance.now();
    await sendTransfer(socketIoTransport(client), env, payload, { window, chunkBytes });
    const seconds = (performance.now() - t) / 1000;
    if (!delivered) throw new Error('loopback transfer was not delivered');
    return payload.length / MB / seconds;
  } finally {
    client.disconnect();
    await server.close();
    http.close();
  }
}

/**
 * Signing and verifying a 50 MB update (digest included) against the raw SHA-512 of the same
 * buffer, the Ed25519 primitives, and chunked socket.io throughput on loopback.
 */
export const protocolBench: BenchSuite = {
  async run({ print, quick }: BenchOptions): Promise<BenchFigures> {
    const reps = quick ? 2 : 5;
    const payload = randomPayload(50 * MB);
    const keys = testKeyPair(SITE);
    const verifier = new EnvelopeVerifier({ keyring: testKeyring(SITE), maxPayloadBytes: payload.length });

    // Interleaved repetitions, best of each: the baseline and the measurement see the same load.
    let envelope = signEnvelope({
      type: 'update',
      body: sampleBody('update', SITE, Date.now()),
      signer: SITE,
      secretKey: keys.secretKey,
      payload,
    });
    const none: Timing = { wall: Infinity, cpu: Infinity };
    let sha512 = none;
    let sign = none;
    let verify = none;
    for (let i = 0; i < reps; i++) {
      sha512 = bestOf(
        sha512,
        timed(() => createHash('sha512').update(payload).digest('hex')),
      );
      sign = bestOf(
        sign,
        timed(() => {
          envelope = signEnvelope({
            type: 'update',
            body: { ...sampleBody('update', SITE, Date.now()), nonce: newNonce() },
            signer: SITE,
            secretKey: keys.secretKey,
            payload,
          });
        }),
      );
      verify = bestOf(
        verify,
        timed(() => {
          if (!verifier.verify(envelope, { payload }).ok) throw new Error('bench envelope did not verify');
        }),
      );
    }
    const total = sign.wall + verify.wall;
    const totalCpu = sign.cpu + verify.cpu;
    const ms = (x: number) => `${(x * 1000).toFixed(0)} ms`;
    print(`50 MB update   raw SHA-512 ${ms(sha512.wall)} (baseline, ${(50 / sha512.wall).toFixed(0)} MB/s)`);
    print(
      `               sign (digest + Ed25519) ${ms(sign.wall)}, verify (digest + Ed25519 + checks) ${ms(verify.wall)}`,
    );
    print(
      `               sign + verify ${ms(total)} = ${(total / sha512.wall).toFixed(2)}× raw SHA-512; ` +
        `target < 500 ms: ${total < 0.5 ? 'met' : 'NOT met'} (CPU time ${ms(totalCpu)})`,
    );

    const message = new Uint8Array(600).fill(1);
    const signature = signBytes(message, keys.secretKey);
    const n = quick ? 20 : 100;
    const perCallMs = (calls: number, fn: () => void) =>
      (timed(() => {
        for (let i = 0; i < calls; i++) fn();
      }).wall /
        calls) *
      1000;
    const naclSignMs = perCallMs(n, () => signBytes(message, keys.secretKey));
    const naclVerifyMs = perCallMs(n, () => nacl.sign.detached.verify(message, signature, keys.publicKey));
    const nodeVerifyMs = perCallMs(n * 10, () => verifyBytes(message, signature, keys.publicKey));
    print(
      `Ed25519 (600 B) tweetnacl sign ${naclSignMs.toFixed(2)} ms; verify: tweetnacl ${naclVerifyMs.toFixed(2)} ms, node:crypto ${nodeVerifyMs.toFixed(3)} ms (${(naclVerifyMs / nodeVerifyMs).toFixed(0)}× faster, used by the verifier)`,
    );

    const transferPayload = quick ? payload.subarray(0, 16 * MB) : payload;
    const label = `${transferPayload.length / MB} MB`;
    const window1 = await loopbackThroughput(transferPayload, 1, 512 * 1024);
    const window4 = await loopbackThroughput(transferPayload, 4, 512 * 1024);
    print(
      `socket.io loopback, ${label} in 512 KiB chunks: window 1 ${window1.toFixed(0)} MB/s, window 4 ${window4.toFixed(0)} MB/s (${(window4 / window1).toFixed(2)}×)`,
    );

    return {
      protocol_sha512_50mb_s: round(sha512.wall),
      protocol_sign_50mb_s: round(sign.wall),
      protocol_verify_50mb_s: round(verify.wall),
      protocol_sign_verify_50mb_s: round(total),
      protocol_sign_verify_vs_sha512: round(total / sha512.wall),
      protocol_sign_verify_target_met: total < 0.5,
      protocol_sha512_50mb_cpu_s: round(sha512.cpu),
      protocol_sign_verify_50mb_cpu_s: round(totalCpu),
      protocol_ed25519_sign_ms: round(naclSignMs),
      protocol_ed25519_verify_tweetnacl_ms: round(naclVerifyMs),
      protocol_ed25519_verify_node_ms: round(nodeVerifyMs),
      protocol_transfer_mb: transferPayload.length / MB,
      protocol_transfer_window1_mb_s: round(window1),
      protocol_transfer_window4_mb_s: round(window4),
    };
  },
};

function round(x: number): number {
  return Math.round(x * 10000) / 10000;
}
