/**
 * The optimisers a plan may name (`stages.*.optimiser.name`) and a task may carry to a site:
 * `adam` is AdamW (decoupled weight decay), `sgd` is SGD with momentum. One vocabulary for the
 * plan DTO, the task config and libs/model's optimisers. No imports: libs/model reads this file.
 */
export const OPTIMISER_NAMES = ['adam', 'sgd'] as const;
export type OptimiserName = (typeof OPTIMISER_NAMES)[number];
