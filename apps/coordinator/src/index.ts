// Public surface of the coordinator app: how to start it, and what other apps (the site agent's
// tests, the demo) may read from it.
export { startCoordinator } from './create-app';
export type { CoordinatorOptions, RunningCoordinator } from './create-app';
export { SitesService } from './sites/sites.service';
export type { KeyringProvider } from './sites/sites.service';
export { validatePlan, parsePlanText, PlanError } from './runs/run-plan';
export { RunPlanDto } from './runs/dto/run-plan.dto';
