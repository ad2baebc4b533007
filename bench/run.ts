// `npm run bench`: runs every benchmark and prints one JSON object per benchmark, with the
// command line, for bench/RESULTS.md.
import { pipelineBench } from './pipeline.js';
import { liveBench } from './live.js';
import { fanoutBench } from './fanout.js';
import { dropsBench } from './drops.js';

const which = process.argv[2] ?? 'all';
if (which === 'all' || which === 'pipeline') console.log(JSON.stringify({ bench: 'pipeline', ...pipelineBench() }));
if (which === 'all' || which === 'live') console.log(JSON.stringify({ bench: 'live', ...(await liveBench()) }));
if (which === 'all' || which === 'fanout') console.log(JSON.stringify({ bench: 'fanout', ...(await fanoutBench()) }));
if (which === 'all' || which === 'drops') console.log(JSON.stringify({ bench: 'drops', ...(await dropsBench()) }));
