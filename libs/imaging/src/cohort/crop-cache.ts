/**
 * Un-normalised crops kept between the two passes of loadCohort: in memory up to a byte budget,
 * then (when a folder is given) as raw float32 files on disk, else not at all (pass 2 re-reads the
 * NIfTI files). A crop file is ~0.4 MB against tens of MB of gzipped DCE, so the disk tier makes
 * repeated epochs over a large cohort cheap without holding it in memory.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CropMetadata, InputShape } from '../preprocess/crop';

export interface CachedCrop {
  shape: InputShape;
  input: Float32Array;
  meta: CropMetadata;
}

export class CropCache {
  private readonly memory = new Map<number, CachedCrop>();
  private readonly disk = new Map<number, { path: string; shape: InputShape; meta: CropMetadata }>();
  private memoryBytes = 0;
  private dirReady = false;

  constructor(
    private readonly limitBytes: number,
    private readonly dir?: string,
  ) {}

  get memoryCount(): number {
    return this.memory.size;
  }

  get diskCount(): number {
    return this.disk.size;
  }

  has(key: number): boolean {
    return this.memory.has(key) || this.disk.has(key);
  }

  async put(key: number, crop: CachedCrop): Promise<void> {
    if (this.memoryBytes + crop.input.byteLength <= this.limitBytes) {
      this.memory.set(key, { shape: crop.shape, input: crop.input, meta: crop.meta });
      this.memoryBytes += crop.input.byteLength;
      return;
    }
    if (!this.dir) return;
    if (!this.dirReady) {
      await mkdir(this.dir, { recursive: true });
      this.dirReady = true;
    }
    const path = join(this.dir, `crop-row${key}.f32`);
    await writeFile(path, new Uint8Array(crop.input.buffer, crop.input.byteOffset, crop.input.byteLength));
    this.disk.set(key, { path, shape: crop.shape, meta: crop.meta });
  }

  /** A crop whose `input` the caller may modify (memory entries are copied). */
  async take(key: number): Promise<CachedCrop | undefined> {
    const inMemory = this.memory.get(key);
    if (inMemory) return { ...inMemory, input: Float32Array.from(inMemory.input) };
    const onDisk = this.disk.get(key);
    if (!onDisk) return undefined;
    const bytes = await readFile(onDisk.path);
    const input = new Float32Array(bytes.byteLength / 4);
    new Uint8Array(input.buffer).set(bytes);
    return { shape: onDisk.shape, input, meta: onDisk.meta };
  }
}
