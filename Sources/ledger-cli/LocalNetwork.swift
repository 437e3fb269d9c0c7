import Foundation
import Ledger
import Node

#if canImport(Glibc)
  import Glibc
#endif

/// A network of local node processes on loopback, one home directory each,
/// described in `DIR/nodes.json` so scripts and tests can find them.
final class LocalNetwork: @unchecked Sendable {
  struct Member: Codable, Sendable {
    let id: String
    let role: String
    var pid: Int32
    let api: String
    let p2p: String
    let home: String
  }

  let directory: String
  private(set) var members: [Member]
  private var processes: [String: Process] = [:]
  /// With network namespaces: each node in its own namespace, joined by veth pairs to one bridge.
  let namespaces: NamespaceLayout?
  /// On loopback: the nodes' ports, kept from other local networks while this one lives
  /// (a killed node's port must still be free when it restarts).
  private let ports: PortReservation?

  private init(directory: String, members: [Member], namespaces: NamespaceLayout?, ports: PortReservation?) {
    self.directory = directory
    self.members = members
    self.namespaces = namespaces
    self.ports = ports
  }

  /// Node keys of a devnet-style genesis: each validator's key derived from its bureau id.
  static func validatorKeys(of genesis: Genesis) throws -> [(bureauId: String, key: SecretKey)] {
    try genesis.validators.map { validator in
      let key = Devnet.nodeKey(validator.bureauId)
      guard key.publicKey == validator.nodeKey else {
        throw CLIError(
          code: "devnet.unknown_key",
          message:
            "validator \(validator.bureauId) does not use the devnet key derived from its bureau id; a local network needs a devnet-style genesis"
        )
      }
      return (validator.bureauId, key)
    }
  }

  static func observerKey(_ index: Int) -> SecretKey { Devnet.key("observer/\(index)") }

  /// Creates homes for every validator of `genesis` plus `observers` observers
  /// in `directory` (which must not hold a network yet), on free loopback ports;
  /// `configure` adjusts each node's configuration before it is written.
  static func create(
    directory: String, genesis: Genesis, genesisJSON: [UInt8], observers: Int, namespaces: Bool = false,
    configure: (inout NodeConfig) -> Void = { _ in }
  ) throws -> LocalNetwork {
    let files = FileManager.default
    guard !files.fileExists(atPath: directory + "/nodes.json") else {
      throw CLIError(
        code: "devnet.exists", message: "\(directory) already holds a network; use another --dir or remove it")
    }
    try files.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let validators = try validatorKeys(of: genesis)
    let observerKeys = (1...max(1, observers)).prefix(observers).map { observerKey($0) }
    let count = validators.count + observers
    let layout = namespaces ? try NamespaceLayout.create(nodes: count) : nil
    let reservation = layout == nil ? try freePorts(2 * count) : nil
    let ports = reservation?.ports ?? []
    func addresses(_ index: Int) -> (api: String, p2p: String) {
      if let layout { return ("http://\(layout.address(index)):8080", "\(layout.address(index)):26600") }
      return ("http://127.0.0.1:\(ports[2 * index])", "127.0.0.1:\(ports[2 * index + 1])")
    }
    var members: [Member] = []
    var nodes: [(Member, SecretKey, PeerRole)] = []
    for (index, validator) in validators.enumerated() {
      let (api, p2p) = addresses(index)
      let member = Member(
        id: validator.bureauId, role: "validator", pid: 0, api: api, p2p: p2p,
        home: directory + "/" + validator.bureauId)
      nodes.append((member, validator.key, .validator))
    }
    for (offset, key) in observerKeys.enumerated() {
      let (api, p2p) = addresses(validators.count + offset)
      let member = Member(
        id: "observer-\(offset + 1)", role: "observer", pid: 0, api: api, p2p: p2p,
        home: directory + "/observer-\(offset + 1)")
      nodes.append((member, key, .observer))
    }
    let validatorAddresses = nodes.filter { $0.2 == .validator }.map(\.0.p2p)
    for (member, key, role) in nodes {
      var config = NodeConfig(id: member.id)
      config.role = role
      config.p2p.listen = member.p2p
      config.p2p.peers = validatorAddresses.filter { $0 != member.p2p }
      config.p2p.observers = observerKeys.map(\.publicKey.hex)
      config.api.listen = String(member.api.dropFirst("http://".count))
      configure(&config)
      try NodeHome(path: member.home).initialize(config: config, key: key, genesisJSON: genesisJSON)
      members.append(member)
    }
    let network = LocalNetwork(directory: directory, members: members, namespaces: layout, ports: reservation)
    try network.writeDescription()
    return network
  }

  /// Free TCP ports on loopback, below the kernel's ephemeral range, each
  /// reserved for as long as the returned reservation lives.
  ///
  /// A port the kernel picked for a bind to port 0 came from the ephemeral
  /// range, and between its release here and the node's bind any outgoing
  /// connection on the machine could be given it as its local port (seen in
  /// CI, with tests connecting in parallel). Below the range only an explicit
  /// bind can take one, so candidates are random and each is checked by
  /// binding it. That check alone still let two networks started at once pick
  /// the same port before either node had bound it (seen in CI: "Address
  /// already in use"), so each port is also reserved with a lock file shared
  /// by every local network on the machine; see `PortReservation`.
  /// `among` narrows the range drawn from (the tests use it).
  static func freePorts(_ count: Int, among candidateRange: Range<Int>? = nil) throws -> PortReservation {
    let candidates = Array(candidateRange ?? 10_000..<ephemeralPortRangeStart()).shuffled()
    let reservation = PortReservation()
    var sockets: [Int32] = []
    defer { for descriptor in sockets { close(descriptor) } }
    for candidate in candidates where reservation.count < count {
      guard let lock = try PortReservation.lock(candidate) else { continue }
      let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
      guard descriptor >= 0 else {
        PortReservation.unlock(lock)
        throw CLIError(code: "devnet.ports", message: "cannot open a socket")
      }
      var address = sockaddr_in()
      address.sin_family = sa_family_t(AF_INET)
      address.sin_addr.s_addr = inet_addr("127.0.0.1")
      address.sin_port = UInt16(candidate).bigEndian
      let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
          bind(descriptor, pointer, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
      }
      guard bound else {
        close(descriptor)
        PortReservation.unlock(lock)
        continue
      }
      sockets.append(descriptor)
      reservation.add(lock)
    }
    guard reservation.count == count else {
      throw CLIError(
        code: "devnet.ports",
        message:
          "found \(reservation.count) of \(count) free loopback ports between \(candidates.min() ?? 0) and \(candidates.max() ?? 0)"
      )
    }
    return reservation
  }

  /// The first port the kernel hands out for outgoing connections (Linux's default is 32768).
  static func ephemeralPortRangeStart() -> Int {
    let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
    let start = range.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } ?? 32_768
    // A range starting very low leaves too few candidates: fall back to the default split.
    return start > 12_000 ? start : 32_768
  }

  func writeDescription() throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    try encoder.encode(members).write(to: URL(fileURLWithPath: directory + "/nodes.json"), options: .atomic)
  }

  static var executablePath: String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
  }

  /// Starts every node process (output to `<home>/node.log`) and waits until each API answers.
  func start(timeoutSeconds: Double = 60) async throws {
    for index in members.indices { try launch(index) }
    try writeDescription()
    try await waitUntilHealthy(timeoutSeconds: timeoutSeconds)
  }

  func launch(_ index: Int) throws {
    let member = members[index]
    let process = Process()
    // Nodes of a local network end with the process that started them, even if it is killed.
    let arguments = ["node", "start", "--home", member.home, "--exit-with-parent", "\(getpid())"]
    if let namespaces {
      // `ip netns exec` execs the node in place, so its parent is still this process.
      process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
      process.arguments = ["netns", "exec", namespaces.namespace(index), Self.executablePath] + arguments
    } else {
      process.executableURL = URL(fileURLWithPath: Self.executablePath)
      process.arguments = arguments
    }
    let logPath = member.home + "/node.log"
    if !FileManager.default.fileExists(atPath: logPath) {
      FileManager.default.createFile(atPath: logPath, contents: nil)
    }
    let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
    log.seekToEndOfFile()
    process.standardOutput = log
    process.standardError = log
    try process.run()
    processes[member.id] = process
    members[index].pid = process.processIdentifier
  }

  func waitUntilHealthy(timeoutSeconds: Double) async throws {
    let deadline = Date().addingTimeInterval(timeoutSeconds)
    for member in members {
      let client = try APIClient(node: member.api)
      while true {
        if (try? await client.get("/healthz")) != nil { break }
        if let process = processes[member.id], !process.isRunning {
          throw CLIError(
            code: "devnet.node_exited",
            message: "\(member.id) exited with status \(process.terminationStatus); see \(member.home)/node.log")
        }
        guard Date() < deadline else {
          throw CLIError(code: "devnet.timeout", message: "\(member.id) did not answer at \(member.api)")
        }
        try await Task.sleep(for: .milliseconds(100))
      }
    }
  }

  /// SIGTERM to every node, then waits for them to exit (SIGKILL after 10 s).
  func stop() {
    for process in processes.values where process.isRunning { kill(process.processIdentifier, SIGTERM) }
    let deadline = Date().addingTimeInterval(10)
    for process in processes.values {
      while process.isRunning, Date() < deadline { usleep(50_000) }
      if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
    processes.removeAll()
    namespaces?.remove()
  }

  /// Cuts one node off the network (its link to the bridge goes down), or reconnects it.
  func setConnected(_ index: Int, _ connected: Bool) {
    namespaces?.setLink(index, up: connected)
  }

  var validators: [Member] { members.filter { $0.role == "validator" } }

  func isRunning(_ index: Int) -> Bool { processes[members[index].id]?.isRunning ?? false }

  /// Sends `signal` to one node (SIGKILL, SIGSTOP, SIGCONT, SIGTERM).
  func signalNode(_ index: Int, _ signal: Int32) {
    guard let process = processes[members[index].id], process.isRunning else { return }
    kill(process.processIdentifier, signal)
  }

  /// Waits for one node's process to end (after SIGTERM or SIGKILL); false on timeout.
  func waitForExit(_ index: Int, timeoutSeconds: Double = 15) -> Bool {
    guard let process = processes[members[index].id] else { return true }
    let deadline = Date().addingTimeInterval(timeoutSeconds)
    while process.isRunning, Date() < deadline { usleep(20_000) }
    return !process.isRunning
  }

  func exitStatus(_ index: Int) -> Int32? {
    guard let process = processes[members[index].id], !process.isRunning else { return nil }
    return process.terminationStatus
  }

  func printSummary() {
    say("Local network in \(directory) (nodes.json lists them):")
    for member in members {
      say(
        "  \(member.id.padding(toLength: 12, withPad: " ", startingAt: 0)) \(member.role.padding(toLength: 9, withPad: " ", startingAt: 0)) api \(member.api)  p2p \(member.p2p)  pid \(member.pid)"
      )
    }
  }
}

/// Loopback ports held for one local network against every other local
/// network on the machine, until the reservation is released or its process
/// ends. Each port is an exclusive `flock` on `<tmp>/dirledger-ports/<port>`:
/// the kernel drops the lock when the holder exits, however it exits, so a
/// crashed network never leaves a port reserved. Other programs are not
/// bound by it; `LocalNetwork.freePorts` checks those by binding.
final class PortReservation {
  struct Lock {
    let port: Int
    let descriptor: Int32
    let path: String
  }

  private var locks: [Lock] = []

  var ports: [Int] { locks.map(\.port) }
  var count: Int { locks.count }

  fileprivate func add(_ lock: Lock) { locks.append(lock) }

  /// Gives every port back (also done when the reservation is freed).
  func release() {
    for lock in locks { Self.unlock(lock) }
    locks.removeAll()
  }

  deinit { release() }

  static var directory: String { NSTemporaryDirectory() + "dirledger-ports" }

  /// The port's lock, or nil when another local network holds it.
  static func lock(_ port: Int) throws -> Lock? {
    // World-writable and sticky like /tmp, so networks of different users share it.
    if mkdir(directory, 0o1777) == 0 { chmod(directory, 0o1777) }
    let path = directory + "/\(port)"
    let descriptor = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else {
      throw CLIError(
        code: "devnet.ports", message: "cannot open \(path) to reserve a port: \(String(cString: strerror(errno)))")
    }
    guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
      close(descriptor)
      return nil
    }
    // The holder before us may have removed the file between our open and
    // our lock; a lock on a removed file reserves nothing, so only a lock on
    // the file the path names now counts.
    var held = stat()
    var named = stat()
    guard fstat(descriptor, &held) == 0, stat(path, &named) == 0, held.st_ino == named.st_ino,
      held.st_dev == named.st_dev
    else {
      close(descriptor)
      return nil
    }
    return Lock(port: port, descriptor: descriptor, path: path)
  }

  /// Removes the file while still holding its lock, so nobody can lock it in between.
  static func unlock(_ lock: Lock) {
    unlink(lock.path)
    close(lock.descriptor)
  }
}

/// Blocks until SIGINT or SIGTERM.
func waitForInterrupt() async {
  signal(SIGINT, SIG_IGN)
  signal(SIGTERM, SIG_IGN)
  let stream = AsyncStream<Void> { continuation in
    // Kept alive by the termination handler; cancelled with the stream.
    nonisolated(unsafe) let sources = [SIGINT, SIGTERM].map { number in
      let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
      source.setEventHandler { continuation.yield() }
      source.resume()
      return source
    }
    continuation.onTermination = { _ in for source in sources { source.cancel() } }
  }
  for await _ in stream { return }
}

/// Finds a genesis file shipped in the repository's genesis/ folder by name.
func shippedGenesis(_ name: String) throws -> String {
  let executableDirectory = URL(fileURLWithPath: LocalNetwork.executablePath).deletingLastPathComponent()
  let candidates = [
    FileManager.default.currentDirectoryPath + "/genesis/\(name).json",
    executableDirectory.appendingPathComponent("../../../genesis/\(name).json").standardized.path,
    executableDirectory.appendingPathComponent("../../genesis/\(name).json").standardized.path,
  ]
  guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
    throw CLIError(
      code: "devnet.unknown_sample", message: "no genesis/\(name).json next to the working directory or the binary")
  }
  return found
}

/// Network namespaces for a local network: node i lives in namespace
/// `dl<k>n<i>` with address 10.88.<k>.<i+1>, linked by a veth pair to the
/// bridge `dl<k>br` (10.88.<k>.254) in the host namespace, from which the
/// harness reaches every node. Only these private addresses are used.
struct NamespaceLayout: Sendable {
  let subnet: Int
  let count: Int

  func namespace(_ index: Int) -> String { "dl\(subnet)n\(index)" }
  func address(_ index: Int) -> String { "10.88.\(subnet).\(index + 1)" }
  var bridge: String { "dl\(subnet)br" }
  func hostLink(_ index: Int) -> String { "dl\(subnet)h\(index)" }
  func nodeLink(_ index: Int) -> String { "dl\(subnet)p\(index)" }

  static func create(nodes count: Int) throws -> NamespaceLayout {
    let layout = NamespaceLayout(subnet: 20 + Int(getpid() % 200), count: count)
    layout.remove()
    var commands: [[String]] = [
      ["link", "add", layout.bridge, "type", "bridge"],
      ["addr", "add", "10.88.\(layout.subnet).254/24", "dev", layout.bridge],
      ["link", "set", layout.bridge, "up"],
    ]
    for index in 0..<count {
      let namespace = layout.namespace(index)
      commands += [
        ["netns", "add", namespace],
        ["link", "add", layout.hostLink(index), "type", "veth", "peer", "name", layout.nodeLink(index)],
        ["link", "set", layout.nodeLink(index), "netns", namespace],
        ["link", "set", layout.hostLink(index), "master", layout.bridge, "up"],
        [
          "netns", "exec", namespace, "ip", "addr", "add", "\(layout.address(index))/24", "dev", layout.nodeLink(index),
        ],
        ["netns", "exec", namespace, "ip", "link", "set", layout.nodeLink(index), "up"],
        ["netns", "exec", namespace, "ip", "link", "set", "lo", "up"],
      ]
    }
    for command in commands where ip(command) != 0 {
      layout.remove()
      throw CLIError(
        code: "devnet.namespaces",
        message: "`ip \(command.joined(separator: " "))` failed; network namespaces need root and iproute2")
    }
    return layout
  }

  func setLink(_ index: Int, up: Bool) { _ = Self.ip(["link", "set", hostLink(index), up ? "up" : "down"]) }

  func remove() {
    for index in 0..<count { _ = Self.ip(["netns", "delete", namespace(index)]) }
    _ = Self.ip(["link", "delete", bridge])
  }

  @discardableResult
  static func ip(_ arguments: [String]) -> Int32 { runQuietly("/usr/sbin/ip", arguments) }
}

/// Runs a program to completion with its output discarded; its exit status,
/// or -1 when it could not be started.
func runQuietly(_ executable: String, _ arguments: [String]) -> Int32 {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: executable)
  process.arguments = arguments
  process.standardOutput = FileHandle.nullDevice
  process.standardError = FileHandle.nullDevice
  guard (try? process.run()) != nil else { return -1 }
  process.waitUntilExit()
  return process.terminationStatus
}
