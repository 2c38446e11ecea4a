import { BenchSuite } from './suite';
import { protocolBench } from './protocol';
import { federationSuite } from './federation';
import { metricsBench } from './metrics';
import { imagingSuite } from './imaging';
import { dicomBench } from './dicom';
import { trainBench } from './train';
import { modelBench } from './model';
import { privacyBench } from './privacy';
import { dpSgdBench } from './dp-sgd';
import { startupBench } from './startup';

/** Every benchmark suite, in the order `phcc-fed bench` runs them. One file per suite. */
export const BENCH_SUITES: BenchSuite[] = [
  trainBench,
  metricsBench,
  imagingSuite,
  dicomBench,
  protocolBench,
  federationSuite,
  modelBench,
  privacyBench,
  dpSgdBench,
  startupBench,
];
