// lbguard_backend_up written from kept lines (orchestrator/backend-up-gauge.ts) reads exactly as
// prom-client's Gauge writes the same samples, and a scrape of 10,000 backends formats nothing
// again until a value changes.
import t from 'tap';
import { Gauge, Registry } from 'prom-client';
import { BackendUpGauge } from '../../orchestrator/backend-up-gauge.ts';
import { createMetrics } from '../../orchestrator/metrics.ts';

const SAMPLES: [string, string, number][] = [
  ['ftp', 'a', 1], ['ftp', 'b', 0], ['tftp', 'a', 1], ['odd "farm"', 'back\\slash\nnewline', 1], ['ftp', 'a', 0], ['ftp', 'c', 1],
];

t.test('the same text as prom-client for the same samples, escaping included', async (t) => {
  const ours = new BackendUpGauge();
  const registry = new Registry();
  const theirs = new Gauge({ name: 'lbguard_backend_up', help: '1 when the backend takes new sessions', labelNames: ['farm', 'backend'], registers: [registry] });
  for (const [farm, backend, value] of SAMPLES) {
    ours.set({ farm, backend }, value);
    theirs.set({ farm, backend }, value);
    t.equal(ours.exposition(), await registry.getSingleMetricAsString('lbguard_backend_up'), `after ${farm}/${backend} = ${value}`);
  }
  t.equal(ours.value({ farm: 'ftp', backend: 'a' }), 0);
  ours.reset();
  theirs.reset();
  t.equal(ours.exposition(), await registry.getSingleMetricAsString('lbguard_backend_up'), 'after reset: the header alone');
});

t.test('the /metrics page: the registry\'s metrics, then lbguard_backend_up', async (t) => {
  const metrics = createMetrics();
  metrics.backendUp.set({ farm: 'f', backend: 'b' }, 1);
  metrics.checks.inc({ farm: 'f', result: 'ok' });
  const page = await metrics.exposition();
  t.equal(page, `${await metrics.registry.metrics()}\n# HELP lbguard_backend_up 1 when the backend takes new sessions\n# TYPE lbguard_backend_up gauge\nlbguard_backend_up{farm="f",backend="b"} 1\n`);
  t.match(page, /\nlbguard_checks_total\{farm="f",result="ok"\} 1\n/);
});

t.test('10,000 backends: a scrape with no change is the text kept, the same string', async (t) => {
  const gauge = new BackendUpGauge();
  for (let i = 0; i < 10_000; i++) gauge.set({ farm: 'f', backend: `b${i}` }, 1);
  const first = gauge.exposition();
  t.equal(first.split('\n').length, 10_002);
  gauge.set({ farm: 'f', backend: 'b5' }, 1);
  t.equal(gauge.exposition(), first, 'setting the value it has changes nothing');
  gauge.set({ farm: 'f', backend: 'b5' }, 0);
  const second = gauge.exposition();
  t.not(second, first);
  t.match(second, /\nlbguard_backend_up\{farm="f",backend="b5"\} 0\nlbguard_backend_up\{farm="f",backend="b6"\} 1\n/, 'in its place');
});
