public import Ledger

#if canImport(Glibc)
  import Glibc
#endif

/// Secret key files: one line of 64 hex digits, created with mode 0600 and
/// never overwritten. Reading refuses files that group or others can read,
/// as ssh does, because a leaked node or operator key lets its holder vote or
/// sign for a bureau.
public enum KeyFile {
  public enum Failure: Error, Equatable, CustomStringConvertible {
    case alreadyExists(path: String)
    case cannotCreate(path: String, errno: Int32)
    case cannotRead(path: String, errno: Int32)
    case tooOpen(path: String, mode: UInt32)
    case malformed(path: String)

    public var description: String {
      switch self {
      case .alreadyExists(let path): "key file \(path) already exists; refusing to overwrite it"
      case .cannotCreate(let path, let code): "cannot create key file \(path): \(String(cString: strerror(code)))"
      case .cannotRead(let path, let code): "cannot read key file \(path): \(String(cString: strerror(code)))"
      case .tooOpen(let path, let mode):
        "key file \(path) has mode \(String(mode, radix: 8)); it must be readable by its owner only (chmod 600)"
      case .malformed(let path): "key file \(path) does not hold 64 hex digits of a valid secp256k1 secret key"
      }
    }
  }

  /// Writes `key` to a new file at `path` with mode 0600.
  public static func write(_ key: SecretKey, to path: String) throws(Failure) {
    let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else {
      let code = errno
      throw code == EEXIST ? .alreadyExists(path: path) : .cannotCreate(path: path, errno: code)
    }
    defer { close(descriptor) }
    var line = key.withUnsafeSecretBytes { Array(Hex.encode($0).utf8) } + [UInt8(ascii: "\n")]
    defer { line.withUnsafeMutableBytes { explicit_bzero($0.baseAddress!, $0.count) } }
    let written = line.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress!, $0.count) }
    guard written == line.count, fsync(descriptor) == 0 else {
      let code = errno
      unlink(path)
      throw .cannotCreate(path: path, errno: code)
    }
  }

  public static func read(from path: String) throws(Failure) -> SecretKey {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw .cannotRead(path: path, errno: errno) }
    defer { close(descriptor) }
    var status = stat()
    guard fstat(descriptor, &status) == 0 else { throw .cannotRead(path: path, errno: errno) }
    guard status.st_mode & 0o077 == 0 else { throw .tooOpen(path: path, mode: status.st_mode & 0o777) }
    var buffer = [UInt8](repeating: 0, count: 130)
    defer { buffer.withUnsafeMutableBytes { explicit_bzero($0.baseAddress!, $0.count) } }
    let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress!, $0.count) }
    guard count >= 0 else { throw .cannotRead(path: path, errno: errno) }
    var text = buffer[0..<count]
    while let last = text.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") || last == UInt8(ascii: " ") {
      text = text.dropLast()
    }
    guard text.count == 64, var secret = Hex.decode(String(decoding: text, as: UTF8.self)) else {
      throw .malformed(path: path)
    }
    defer { secret.withUnsafeMutableBytes { explicit_bzero($0.baseAddress!, $0.count) } }
    guard let key = try? SecretKey(bytes: secret) else { throw .malformed(path: path) }
    return key
  }
}
