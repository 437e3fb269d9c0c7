public import Consensus
import Foundation
import Ledger

/// The replica's write-ahead log: every vote, pre-prepare and view change this
/// validator signs is appended and fsynced before it is sent, so a restarted
/// validator never signs a conflicting message for a slot it already voted in.
///
/// File format: records of `u32 length (big-endian) · 4-byte checksum (the
/// first bytes of SHA-256 of the body) · body (canonical WALRecord)`. A torn
/// or corrupt tail, which only a crash mid-append leaves, is cut off on open.
public final class WriteAheadLog {
  public let path: String
  private var descriptor: Int32
  public private(set) var records: [WALRecord]
  private var appendsSinceCompaction = 0
  private var bytesSinceCompaction = 0
  static let recordBytesMax = 64 * 1_024 * 1_024

  public struct Failure: Error, CustomStringConvertible {
    public let description: String
  }

  public init(path: String) throws {
    self.path = path
    let existing = FileManager.default.contents(atPath: path).map { [UInt8]($0) } ?? []
    let (records, validLength) = Self.parse(existing)
    self.records = records
    descriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else {
      throw Failure(description: "cannot open WAL \(path): \(String(cString: strerror(errno)))")
    }
    if validLength < existing.count {
      // Only the last append can be torn; drop it (it was never sent: sending follows the fsync).
      guard ftruncate(descriptor, off_t(validLength)) == 0, fsync(descriptor) == 0 else {
        throw Failure(description: "cannot cut the torn tail of \(path): \(String(cString: strerror(errno)))")
      }
    }
    lseek(descriptor, 0, SEEK_END)
  }

  deinit { close(descriptor) }

  static func parse(_ bytes: [UInt8]) -> ([WALRecord], Int) {
    var records: [WALRecord] = []
    var offset = 0
    while bytes.count - offset >= 8 {
      let length = bytes[offset..<offset + 4].reduce(0) { Int($0) << 8 | Int($1) }
      guard length <= recordBytesMax, bytes.count - offset - 8 >= length else { break }
      let body = Array(bytes[offset + 8..<offset + 8 + length])
      guard Array(SHA256.hash(body).bytes.prefix(4)) == Array(bytes[offset + 4..<offset + 8]),
        let record = try? WALRecord(canonicalBytes: body)
      else { break }
      records.append(record)
      offset += 8 + length
    }
    return (records, offset)
  }

  static func entry(_ record: WALRecord) -> [UInt8] {
    let body = record.canonicalBytes
    let length = UInt32(body.count)
    return [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
      + SHA256.hash(body).bytes.prefix(4) + body
  }

  /// Appends and fsyncs; returns only once the record is durable.
  public func append(_ record: WALRecord) throws {
    let entry = Self.entry(record)
    try writeAll(entry, to: descriptor)
    guard fsync(descriptor) == 0 else {
      throw Failure(description: "WAL fsync failed: \(String(cString: strerror(errno)))")
    }
    records.append(record)
    appendsSinceCompaction += 1
    bytesSinceCompaction += entry.count
  }

  private func writeAll(_ bytes: [UInt8], to descriptor: Int32) throws {
    var written = 0
    while written < bytes.count {
      let result = bytes[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
      if result < 0, errno == EINTR { continue }
      guard result > 0 else { throw Failure(description: "WAL write failed: \(String(cString: strerror(errno)))") }
      written += result
    }
  }

  /// Drops records at or below the committed height (they can never matter
  /// again), keeping the latest view change, by writing a new file and renaming
  /// it over the old one. Runs only every `interval` appends or `bytesInterval`
  /// bytes, whichever comes first: a primary's records are whole proposals
  /// (megabytes each), and they stay in memory as well as on disk until
  /// compacted.
  public func compact(committedHeight: UInt64, interval: Int = 512, bytesInterval: Int = 1 << 20) throws {
    guard appendsSinceCompaction >= interval || bytesSinceCompaction >= bytesInterval else { return }
    let kept = WALRecord.compacted(records, committedHeight: committedHeight)
    let temporary = path + ".compacting"
    let newDescriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard newDescriptor >= 0 else { throw Failure(description: "cannot write \(temporary)") }
    do {
      try writeAll(kept.flatMap(Self.entry), to: newDescriptor)
      guard fsync(newDescriptor) == 0, rename(temporary, path) == 0 else {
        throw Failure(description: "cannot replace the WAL: \(String(cString: strerror(errno)))")
      }
    } catch {
      close(newDescriptor)
      throw error
    }
    close(descriptor)
    descriptor = newDescriptor
    lseek(descriptor, 0, SEEK_END)
    syncDirectory(of: path)
    records = kept
    appendsSinceCompaction = 0
    bytesSinceCompaction = 0
  }

  private func syncDirectory(of path: String) {
    let directory = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_CLOEXEC)
    guard directory >= 0 else { return }
    fsync(directory)
    close(directory)
  }
}
