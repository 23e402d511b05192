// Package compress compresses and decompresses the records section of
// Kafka record batches with the codecs Kafka defines: gzip, snappy, lz4 and
// zstd (log.Compression 1 to 4). Kafka producers send compressed batches;
// the log stores them as they came (see log/format.go), and whoever reads
// the records, the native Fetch for one, decompresses them here and decodes
// them with log.DecodeRecords (DecodeBatch does both).
//
// The codecs are github.com/klauspost/compress (gzip, zstd, and snappy
// through its s2 package's snappy-compatible block format) and
// github.com/pierrec/lz4/v4 (the lz4 frame format), the libraries
// franz-go itself uses; see docs/architecture.md.
//
// Snappy comes in two shapes: a raw snappy block (franz-go, librdkafka) and
// the xerial framing of snappy-java (the Java client, sarama): a 16-byte
// header (magic "\x82SNAPPY\x00", version, compatible version) and then
// chunks, each a 4-byte big-endian length and a raw block. Decompress
// tells them apart by the magic. Compress writes raw blocks.
//
// Decompression is bounded: output beyond the caller's limit stops it with
// a *TooLargeError (ErrTooLarge), so that a small compressed batch cannot
// expand into gigabytes (a zip bomb). Decoders and encoders are pooled;
// every function is safe for concurrent use and blocks only for the CPU
// work.
package compress
