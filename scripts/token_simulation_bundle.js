// The build input of the modeler's token simulation: bpmn-js-token-simulation ships ES modules only (no
// prebuilt bundle like bpmn-js or the properties panel), so `make node` bundles this file with esbuild into
// node_modules/bpmn-js-token-simulation/dist/bpmn-js-token-simulation.js (an IIFE: window.BpmnJSTokenSimulation),
// served by /admin/vendor/token-simulation/ beside the other bpmn.io packages.
import TokenSimulationModeler from 'bpmn-js-token-simulation/lib/modeler';

export default TokenSimulationModeler;
