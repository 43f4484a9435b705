// bench/bpmn_engine_driver.mjs — the lifecycle of bench/processes/bench_mediation.bpmn on the npm package
// bpmn-engine, for bench/run.py (issue 6 §1c). bench/run.py copies this file next to its own node_modules
// (bench/.work/node/) and runs it there; it prints one JSON object on stdout.
//
// Fairness rules, as for the SpiffWorkflow runs: the BPMN is parsed once (moddle + serialized source context,
// reused by every engine instance); each lifecycle is a new Engine; after every step the state is taken with
// getState() and turned into JSON text (what a store would write). The gateway conditions are the same
// comparisons as in the BPMN file, rewritten once from Python to JavaScript script conditions
// (`a == 'x'` -> `next(null, environment.output.a === 'x')`), which bpmn-engine runs with node:vm.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { EventEmitter } from 'node:events';

import { Engine } from 'bpmn-engine';
import * as Elements from 'bpmn-elements';
import BpmnModdle from 'bpmn-moddle';
import serializer, { TypeResolver } from 'moddle-context-serializer';

const require = createRequire(import.meta.url);
const camunda = require('camunda-bpmn-moddle/resources/camunda.json');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const bpmnFile = arg('bpmn');
const n = Number(arg('n', '1000'));
const warmup = Number(arg('warmup', '100'));
const steps = JSON.parse(arg('steps', '[]')); // [{task: 'intake', data: {...}}, ...]
const deadlineMs = Number(arg('deadline-ms', '120000'));

function toJavaScript(condition) {
  // Only the simple comparisons the bench processes use: name == 'literal' (joined by and / or).
  return condition
    .replace(/\b([A-Za-z_][A-Za-z0-9_]*)\s*==\s*('[^']*'|"[^"]*"|\d+)/g, 'environment.output.$1 === $2')
    .replace(/\band\b/g, '&&').replace(/\bor\b/g, '||');
}

async function parseOnce(xml) {
  const moddle = new BpmnModdle({ camunda });
  const moddleContext = await moddle.fromXML(xml);
  let rewritten = 0;
  for (const element of Object.values(moddleContext.elementsById)) {
    const cond = element.conditionExpression;
    if (element.$type === 'bpmn:SequenceFlow' && cond && cond.body && !cond.language) {
      cond.language = 'javascript';
      cond.body = `next(null, ${toJavaScript(cond.body.trim())})`;
      rewritten += 1;
    }
  }
  const sourceContext = serializer(moddleContext, TypeResolver(Elements));
  return { sourceContext, rewritten, warnings: (moddleContext.warnings || []).length };
}

function nextEvent(engine, listener) {
  return new Promise((resolve, reject) => {
    const onWait = (api) => { cleanup(); resolve({ kind: 'wait', api }); };
    const onEnd = () => { cleanup(); resolve({ kind: 'end' }); };
    const onError = (err) => { cleanup(); reject(err); };
    function cleanup() {
      listener.removeListener('wait', onWait);
      engine.removeListener('end', onEnd);
      engine.removeListener('error', onError);
    }
    listener.once('wait', onWait);
    engine.once('end', onEnd);
    engine.once('error', onError);
  });
}

async function takeState(engine) {
  const text = JSON.stringify(await engine.getState());
  return text.length;
}

const hr = () => Number(process.hrtime.bigint()) / 1e6;

async function lifecycle(sourceContext, i) {
  const times = [];
  const sizes = [];
  const listener = new EventEmitter();
  const engine = new Engine({ name: `bench-${i}`, sourceContext, moddleOptions: { camunda } });
  let t0 = hr();
  let next = nextEvent(engine, listener);
  await engine.execute({ listener });
  let ev = await next;
  sizes.push(await takeState(engine));
  times.push(hr() - t0);
  for (const step of steps) {
    if (ev.kind !== 'wait' || ev.api.id !== step.task) {
      throw new Error(`expected to wait in ${step.task}, got ${ev.kind} ${ev.api ? ev.api.id : ''}`);
    }
    t0 = hr();
    next = nextEvent(engine, listener);
    Object.assign(ev.api.environment.output, step.data);
    ev.api.signal({ ...step.data });
    ev = await next;
    sizes.push(await takeState(engine));
    times.push(hr() - t0);
  }
  if (ev.kind !== 'end') throw new Error(`lifecycle did not end: waiting in ${ev.api && ev.api.id}`);
  return { times, sizes };
}

async function main() {
  const xml = readFileSync(bpmnFile, 'utf8');
  const tParse = hr();
  const { sourceContext, rewritten, warnings } = await parseOnce(xml);
  const parseMs = hr() - tParse;
  const stepTimes = [];
  const stateBytes = [];
  const started = hr();
  let done = 0;
  for (let i = 0; i < warmup + n; i += 1) {
    const { times, sizes } = await lifecycle(sourceContext, i);
    if (i >= warmup) {
      stepTimes.push(times);
      stateBytes.push(sizes);
      done += 1;
    }
    if (hr() - started > deadlineMs) break;
  }
  const pkg = JSON.parse(readFileSync(new URL('./node_modules/bpmn-engine/package.json', import.meta.url), 'utf8'));
  process.stdout.write(JSON.stringify({
    engine: 'bpmn-engine', version: pkg.version, node: process.version, parse_ms: parseMs,
    conditions_rewritten: rewritten, moddle_warnings: warnings, lifecycles: done,
    step_times_ms: stepTimes, state_bytes: stateBytes[0] || [],
  }));
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
