/**
 * Whether JSON text nests arrays/objects deeper than `maxDepth`, in one pass without parsing (so
 * it runs before JSON.parse and before anything recursive sees the value). Brackets inside
 * strings do not count; the text need not be valid JSON (the parser reports that afterwards).
 */
export function jsonDepthExceeds(text: Uint8Array, maxDepth: number): boolean {
  const OPEN_OBJECT = 0x7b;
  const OPEN_ARRAY = 0x5b;
  const CLOSE_OBJECT = 0x7d;
  const CLOSE_ARRAY = 0x5d;
  const QUOTE = 0x22;
  const BACKSLASH = 0x5c;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > maxDepth) return true;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--;
    }
  }
  return false;
}
