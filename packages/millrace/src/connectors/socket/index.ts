export {
  socketSource,
  type SocketSourceOptions,
  type SocketRow,
  type SocketRowWithTimestamp,
  type SocketConnectionState,
} from './socketSource.ts';
