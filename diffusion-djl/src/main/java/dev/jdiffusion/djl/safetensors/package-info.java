/**
 * Reading and writing the safetensors format: an 8-byte little-endian header length, a JSON
 * header describing each tensor's dtype, shape and byte range, then the raw little-endian data.
 * {@link dev.jdiffusion.djl.safetensors.SafetensorsFile} validates and streams files of any
 * size; {@link dev.jdiffusion.djl.safetensors.SafetensorsWriter} writes them atomically.
 */
package dev.jdiffusion.djl.safetensors;
