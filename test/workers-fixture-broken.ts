// A module that cannot be imported: every worker boot fails.
export const loaded = true;
throw new Error('this module refuses to load');
