// The engine's public surface, for services that embed it.
export { copy, type CopyRequest } from './copy/copy.js';
export { CopyOptions, defaultConnections, type CopyOptionsInput } from './copy/options.js';
export { parseEndpoint, parseOperands, type Endpoint } from './copy/endpoint.js';
export type { CopyStats } from './protocol/messages.js';
export { NbdHandle, type Extent, nativeStats, libnbdVersion } from './nbd/handle.js';
export * from './errors.js';
export { startNbdkit, startQemuNbd, nbdUnixUri, type Server } from './process/server.js';
