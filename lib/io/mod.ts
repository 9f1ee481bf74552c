/**
 * File formats: safetensors (read, write, load, save; the checkpoint format) and structural checks of encoded-audio
 * containers (WAV, FLAC, Ogg, MP3) that report truncation or corruption before decoding.
 *
 * @module
 */
export {
  loadSafetensors,
  readSafetensors,
  type ReadSafetensorsOptions,
  type SafetensorEntry,
  type SafetensorInput,
  type SafetensorInputs,
  type Safetensors,
  type SafetensorsDType,
  saveSafetensors,
  type TensorData,
  writeSafetensors,
} from "./safetensors.ts";
export { type AudioContainer, checkContainer, type ContainerInfo, sniffContainer } from "./audio_container.ts";
