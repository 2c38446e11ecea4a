import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { CoordinatorStore } from '../persistence/repositories';

/** One global model the coordinator holds: a run's initial model or a round's aggregate. */
export class ModelEntry {
  @ApiProperty({ description: 'SHA-512 of the encoded weights (GET /models/{digest})' }) digest!: string;
  @ApiProperty() runId!: string;
  @ApiProperty({ enum: ['initial', 'global'] }) kind!: 'initial' | 'global';
  @ApiPropertyOptional() stage?: string;
  @ApiPropertyOptional() round?: number;
  @ApiPropertyOptional({ description: 'when the round that produced it ended' }) at?: string;
}

/**
 * Every run's models in order: the plan's initial model, then each finished round's aggregate.
 * Read from the store (runs, rounds), not by listing the blob folder, which also holds site
 * updates and strategy state.
 */
export async function listModels(store: CoordinatorStore): Promise<ModelEntry[]> {
  const out: ModelEntry[] = [];
  for (const run of await store.runs.list()) {
    const plan = JSON.parse(run.planJson) as { initialModel?: unknown };
    if (typeof plan.initialModel === 'string') {
      out.push({ digest: plan.initialModel, runId: run.id, kind: 'initial', at: run.createdAt });
    }
    for (const round of await store.rounds.listForRun(run.id)) {
      if (round.state !== 'done' || !round.outputDigest) continue;
      out.push({
        digest: round.outputDigest,
        runId: run.id,
        kind: 'global',
        stage: round.stage,
        round: round.round,
        at: round.endedAt,
      });
    }
  }
  return out;
}
