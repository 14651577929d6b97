export * from './config.ts';
export * from './settings.ts';
