import { plainToInstance } from 'class-transformer';
import { validateSync, ValidationError } from 'class-validator';
import { PrivacyDto } from './privacy.dto';

function problems(raw: unknown): string[] {
  const dto = plainToInstance(PrivacyDto, raw);
  const out: string[] = [];
  const walk = (errors: ValidationError[], path: string) => {
    for (const e of errors) {
      const at = path ? `${path}.${e.property}` : e.property;
      for (const message of Object.values(e.constraints ?? {})) out.push(`${at}: ${message}`);
      walk(e.children ?? [], at);
    }
  };
  walk(validateSync(dto, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true }), '');
  return out;
}

const good = {
  secureAggregation: true,
  threshold: 3,
  neighbours: 4,
  dp: { clip: 1, noiseMultiplier: 1.1, delta: 1e-5, noise: 'distributed', adaptive: true, targetQuantile: 0.5 },
  evaluation: { minBinCount: 5 },
};

describe('PrivacyDto', () => {
  it('accepts a full privacy section and a minimal one', () => {
    expect(problems(good)).toEqual([]);
    expect(problems({ secureAggregation: false })).toEqual([]);
    expect(problems({ secureAggregation: false, dp: { clip: 0.5, targetEpsilon: 3, delta: 1e-6 } })).toEqual([]);
  });

  it('needs exactly one of noiseMultiplier and targetEpsilon', () => {
    expect(problems({ ...good, dp: { clip: 1, delta: 1e-5 } })).toEqual([
      'dp: dp needs exactly one of noiseMultiplier and targetEpsilon',
    ]);
    expect(problems({ ...good, dp: { clip: 1, delta: 1e-5, noiseMultiplier: 1, targetEpsilon: 2 } })).toHaveLength(1);
  });

  it('ties threshold, neighbours and distributed noise to secure aggregation', () => {
    expect(problems({ secureAggregation: true })).toEqual(['secureAggregation: secureAggregation needs a threshold']);
    expect(problems({ secureAggregation: false, threshold: 3 })).toEqual(['threshold: threshold needs secureAggregation: true']);
    expect(problems({ ...good, neighbours: 5 })).toEqual(['neighbours: neighbours must be even and needs secureAggregation: true']);
    expect(problems({ secureAggregation: false, dp: { clip: 1, noiseMultiplier: 1, delta: 1e-5, noise: 'distributed' } })).toEqual([
      'dp: dp.noise "distributed" needs secureAggregation: true (each update would carry only part of the noise)',
    ]);
  });

  it('bounds every number and refuses unknown fields', () => {
    const found = problems({
      ...good,
      threshold: 1,
      dp: { clip: 0, noiseMultiplier: 1, delta: 0.5, epsilon: 3 },
      evaluation: { minBinCount: 0 },
    });
    expect(found).toEqual(
      expect.arrayContaining([
        'threshold: threshold must not be less than 2',
        'dp.clip: clip must not be less than 0.000001',
        'dp.delta: delta must not be greater than 0.01',
        'dp.epsilon: property epsilon should not exist',
        'evaluation.minBinCount: minBinCount must not be less than 1',
      ]),
    );
    expect(problems({ ...good, dp: { ...good.dp, adaptive: false } })).toEqual([
      'dp.targetQuantile: targetQuantile needs adaptive: true',
    ]);
  });
});
