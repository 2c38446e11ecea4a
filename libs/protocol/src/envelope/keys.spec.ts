import { createHash } from 'node:crypto';
import nacl from 'tweetnacl';
import { fingerprint, fromBase64, keyPairFromSeed, seedOf, signBytes, toBase64, verifyBytes } from './keys';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** RFC 8032 §7.1: TEST 1, TEST 2, TEST 3 and TEST SHA(abc). */
const RFC8032 = [
  {
    name: 'TEST 1',
    secret: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    public: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    name: 'TEST 2',
    secret: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    public: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    name: 'TEST 3',
    secret: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    public: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    message: 'af82',
    signature:
      '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
  {
    name: 'TEST SHA(abc)',
    secret: '833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42',
    public: 'ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf',
    message:
      'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
    signature:
      'dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704',
  },
];

describe('Ed25519 keys (RFC 8032 test vectors)', () => {
  it.each(RFC8032)('$name: seed → public key and signature match exactly, and verify', (v) => {
    const keys = keyPairFromSeed(hex(v.secret));
    expect(toHex(keys.publicKey)).toBe(v.public);
    expect(toHex(seedOf(keys))).toBe(v.secret);
    const signature = signBytes(hex(v.message), keys.secretKey);
    expect(toHex(signature)).toBe(v.signature);
    expect(verifyBytes(hex(v.message), signature, keys.publicKey)).toBe(true);
    const flipped = new Uint8Array(signature);
    flipped[5] ^= 0x01;
    expect(verifyBytes(hex(v.message), flipped, keys.publicKey)).toBe(false);
  });

  it.each(RFC8032)("$name: tweetnacl's verifier agrees with the node:crypto one used in verifyBytes", (v) => {
    const keys = keyPairFromSeed(hex(v.secret));
    const signature = hex(v.signature);
    expect(nacl.sign.detached.verify(hex(v.message), signature, keys.publicKey)).toBe(true);
    const other = new Uint8Array(Buffer.from(v.message + '00', 'hex'));
    expect(nacl.sign.detached.verify(other, signature, keys.publicKey)).toBe(false);
    expect(verifyBytes(other, signature, keys.publicKey)).toBe(false);
  });

  it('rejects signatures and keys of the wrong length instead of throwing', () => {
    const keys = keyPairFromSeed(hex(RFC8032[0].secret));
    expect(verifyBytes(new Uint8Array(0), new Uint8Array(63), keys.publicKey)).toBe(false);
    expect(verifyBytes(new Uint8Array(0), new Uint8Array(64), new Uint8Array(31))).toBe(false);
    expect(() => keyPairFromSeed(new Uint8Array(31))).toThrow(RangeError);
  });

  it('fingerprints are the first 16 bytes of SHA-256 in 8 groups of 4 hex digits', () => {
    const keys = keyPairFromSeed(hex(RFC8032[0].secret));
    // `xxd -r -p <<< d75a98…511a | openssl dgst -sha256` = 21fe31dfa154a261626bf854046fd227…
    expect(fingerprint(keys.publicKey)).toBe('21fe:31df:a154:a261:626b:f854:046f:d227');
    const other = keyPairFromSeed(hex(RFC8032[1].secret));
    expect(fingerprint(other.publicKey)).toBe(
      createHash('sha256').update(other.publicKey).digest('hex').slice(0, 32).match(/.{4}/g)!.join(':'),
    );
  });

  it('decodes only canonical base64 of the exact length', () => {
    const bytes = new Uint8Array(32).fill(7);
    const text = toBase64(bytes);
    expect(fromBase64(text, 32)).toEqual(bytes);
    expect(fromBase64(text, 64)).toBeUndefined();
    expect(fromBase64(text.replace(/=$/, ''), 32)).toBeUndefined();
    expect(fromBase64(text.slice(0, -2) + 'x=', 32)).toBeUndefined();
    expect(fromBase64(42, 32)).toBeUndefined();
  });
});
