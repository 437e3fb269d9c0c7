import ArgumentParser
import Foundation
import Ledger
import Node

struct NodeCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "node",
    abstract: "Set up and run a bureau node.",
    subcommands: [Init.self, Start.self])

  struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Create a node home: config.toml, the node key (0600) and the genesis file.",
      discussion: """
        The home must not hold a config yet. Without --key a new node key is generated; \
        its public key (printed) is what governance puts in the validator set or what \
        validators list as an observer. Every setting is documented in docs/OPERATIONS.md.
        """)

    @Option(help: "Home directory to create.") var home: String
    @Option(help: "Node name in logs and status (for a bureau's node, its bureau id).") var id: String
    @Option(help: "The chain's genesis file (copied into the home).") var genesis: String
    @Option(help: "validator or observer.") var role: String = "validator"
    @Option(help: "Existing node key file to use instead of generating one.") var key: String?
    @Option(help: "Peer listen address host:port.") var p2p: String = "0.0.0.0:26600"
    @Option(help: "HTTP API listen address host:port.") var api: String = "127.0.0.1:8080"
    @Option(name: .customLong("peer"), help: "A peer to keep connected (host:port); repeat for each.") var peers:
      [String] = []
    @Option(name: .customLong("observer"), help: "Node key (hex) of an observer to admit; repeatable.") var observers:
      [String] = []

    func run() throws {
      guard let roleValue = PeerRole.allCases.first(where: { $0.name == role }) else {
        throw CLIError(code: "input.invalid_role", message: "--role: validator or observer")
      }
      guard let genesisData = FileManager.default.contents(atPath: genesis) else {
        throw CLIError(code: "input.unreadable", message: "cannot read \(genesis)")
      }
      do {
        _ = try Genesis.parse(json: genesisData)
      } catch {
        throw CLIError(code: "genesis.invalid", message: "\(error)")
      }
      let secret =
        try key.map { path in
          do { return try KeyFile.read(from: path) } catch {
            throw CLIError(code: "key.unreadable", message: "\(error)")
          }
        } ?? SecretKey()
      var config = NodeConfig(id: id)
      config.role = roleValue
      config.p2p.listen = p2p
      config.p2p.peers = peers
      config.p2p.observers = observers
      config.api.listen = api
      do {
        try config.validate()
        try NodeHome(path: home).initialize(config: config, key: secret, genesisJSON: [UInt8](genesisData))
      } catch let error as NodeConfig.Invalid {
        throw CLIError(code: error.code, message: "\(error.field): \(error.message)")
      }
      print("node home \(home) created; node key \(secret.publicKey.hex)")
    }
  }

  struct Start: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Run the node in the foreground until SIGTERM or SIGINT (clean shutdown).",
      discussion: "Logs go to standard error, one line per committed block at info. See docs/OPERATIONS.md.")

    @Option(help: "The node's home directory (made by `node init`).") var home: String
    @Option(help: "Override the config's log_level (trace, debug, info, notice, warning, error).") var logLevel: String?
    @Option(help: .hidden) var exitWithParent: Int32?

    func run() async throws {
      do {
        try await NodeRunner.run(home: NodeHome(path: home), logLevel: logLevel, parentProcess: exitWithParent)
      } catch let error as NodeConfig.Invalid {
        throw CLIError(code: error.code, message: "\(error.field): \(error.message)")
      } catch let error as NodeRunner.Failure {
        throw CLIError(code: error.code, message: error.message)
      } catch let error as NodeEngine.StartupError {
        throw CLIError(code: error.code, message: error.message)
      }
    }
  }
}

struct StatusCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "status", abstract: "Show a node's status: chain, height, view, primary, peers, mempool.")

  @Option(name: .customLong("node"), help: "Node API URL, e.g. http://127.0.0.1:8080; repeat it (or separate with commas) to fail over to the next.") var nodes: [String] = []
  @Option(help: "text or json.") var output: OutputFormat = .text

  func run() async throws {
    let client = try APIClient(nodes: nodes)
    let status = try await client.get("/v1/status")
    if output == .json {
      print(try JSONOutput.string(JSONValue(status)))
      return
    }
    let peers = (status["peers"] as? [[String: Any]]) ?? []
    print(
      """
      chain     \(status["chainId"] ?? "?")
      node      \(status["nodeId"] ?? "?") (\(status["role"] ?? "?"))
      height    \(status["height"] ?? "?")   view \(status["view"] ?? "?")   primary \((status["primary"] as? String)?.prefix(16) ?? "-")
      last      \(status["lastBlockHash"] ?? "?")
      state     \(status["stateRoot"] ?? "?")
      peers     \(peers.count)   mempool \(status["mempoolSize"] ?? "?")   tx/s \(status["transactionsPerSecond"] ?? "?")
      """)
    if let halted = status["halted"] as? String { print("HALTED    \(halted)") }
  }
}

enum OutputFormat: String, ExpressibleByArgument, Sendable {
  case text, json
}

/// Any JSON value, re-encodable with sorted keys for `--output json`.
enum JSONValue: Encodable {
  case object([String: JSONValue])
  case array([JSONValue])
  case string(String)
  case number(Double)
  case integer(Int64)
  case bool(Bool)
  case null

  init(_ value: Any) {
    switch value {
    case let object as [String: Any]: self = .object(object.mapValues(JSONValue.init))
    case let array as [Any]: self = .array(array.map(JSONValue.init))
    case let string as String: self = .string(string)
    case let number as NSNumber:
      if String(cString: number.objCType) == "c" {
        self = .bool(number.boolValue)
      } else if number.doubleValue.rounded() == number.doubleValue, abs(number.doubleValue) < 9e15 {
        self = .integer(number.int64Value)
      } else {
        self = .number(number.doubleValue)
      }
    default: self = .null
    }
  }

  func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    switch self {
    case .object(let object): try container.encode(object)
    case .array(let array): try container.encode(array)
    case .string(let string): try container.encode(string)
    case .number(let number): try container.encode(number)
    case .integer(let integer): try container.encode(integer)
    case .bool(let bool): try container.encode(bool)
    case .null: try container.encodeNil()
    }
  }
}
