/** The runtime: authenticates callers, decides, freezes every decision into the log, acts. */
export * from './decide.ts';
export * from './reasoning.ts';
export * from './frozen.ts';
export * from './identity.ts';
export * from './modules.ts';
export * from './runtime.ts';
