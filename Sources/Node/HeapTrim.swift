internal import CMalloc
import Foundation

/// Gives the heap's free pages back to the system after a commit, once the
/// node's resident memory has passed a mark.
///
/// A block's execution and batches are freed at its commit, and what they
/// leave is free space between live allocations that glibc keeps resident:
/// past 10⁶ transactions a primary held ≈ 49 MB of it in its two arenas, a
/// backup ≈ 32 MB (`malloc_stats`), and the primary's peak reached 301 MB.
/// `malloc_trim` releases whole free pages anywhere in the arenas; below the
/// mark it is skipped, since pages given back are faulted in again when
/// the next block reuses them.
enum HeapTrim {
  static let residentMarkBytes = 224 << 20

  /// Resident bytes of this process (`/proc/self/statm`), nil where there is none.
  static func residentBytes() -> Int? {
    guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .ascii) else { return nil }
    let fields = statm.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
  }

  /// Trims when resident memory is above `mark`; returns whether it did.
  @discardableResult
  static func ifResidentAbove(_ mark: Int = residentMarkBytes) -> Bool {
    guard let resident = residentBytes(), resident > mark else { return false }
    _ = malloc_trim(0)
    return true
  }
}
