import { createHash } from 'node:crypto';

/** 32-bit FNV-1a of a string's UTF-16 code units: fast, stable across processes. */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** First 64 bits of SHA-1 of a string, as two unsigned 32-bit words. */
export function hash64(s: string): [number, number] {
  const d = createHash('sha1').update(s).digest();
  return [d.readUInt32BE(0), d.readUInt32BE(4)];
}

export function hex32(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}
