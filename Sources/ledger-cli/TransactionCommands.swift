import ArgumentParser
import Foundation
import Ledger
import Node

/// Signs a payload as `key` (plus co-signers), submits it to `client` and waits for its outcome.
struct TransactionSender {
  let client: APIClient
  let chainId: String

  static func connect(nodes: [String]) async throws -> TransactionSender {
    let client = try APIClient(nodes: nodes)
    let status = try await client.get("/v1/status")
    guard let chainId = status["chainId"] as? String else {
      throw CLIError(code: "node.bad_response", message: "status without chainId")
    }
    return TransactionSender(client: client, chainId: chainId)
  }

  func sign(_ payload: Payload, by key: SecretKey, cosigners: [SecretKey] = []) async throws -> SignedTransaction {
    let sequence = try await client.nextSequence(of: key.publicKey)
    let body = TransactionBody(chainId: chainId, signer: key.publicKey, sequence: sequence, payload: payload)
    return SignedTransaction(body: body, signedBy: [key] + cosigners)
  }

  /// The committed outcome: (height, result code, message).
  func send(_ transaction: SignedTransaction, timeoutSeconds: Int = 60) async throws -> Outcome {
    _ = try await client.submit(transaction)
    let status = try await client.waitForOutcome(transaction.id, timeoutSeconds: timeoutSeconds)
    let result = status["result"] as? [String: Any]
    return Outcome(
      id: transaction.id.hex, height: (status["height"] as? NSNumber)?.uint64Value ?? 0,
      code: (result?["code"] as? String) ?? "?", message: (result?["message"] as? String) ?? "")
  }

  struct Outcome: Encodable {
    let id: String
    let height: UInt64
    let code: String
    let message: String
    var accepted: Bool { code == TransactionResult.acceptedCode }
  }
}

/// What every transaction subcommand takes.
struct SendOptions: ParsableArguments {
  @Option(help: "Payload JSON (the kind's JSON form, docs/FORMAT.md), or @FILE. `tx template KIND` prints an example.")
  var payload: String
  @Option(help: "Key file of the signer (a bureau operator, or a governance key for governance kinds).") var key: String
  @Option(name: .customLong("cosign"), help: "Key file of a co-signer (governance threshold); repeatable.")
  var cosigners: [String] = []
  @Option(name: .customLong("node"), help: "Node API URL, e.g. http://127.0.0.1:8080; repeat it (or separate with commas) to fail over to the next.") var nodes: [String] = []
  @Option(help: "Seconds to wait for the outcome.") var timeout: Int = 60
  @Option(help: "text or json.") var output: OutputFormat = .text
}

/// One subcommand per transaction kind (`ledger-cli tx publish-directory …`):
/// signs the payload, sends it, waits for its block and prints the result.
/// Exit status 0 when committed and accepted, 1 when rejected or not sent.
protocol TransactionKindCommand: AsyncParsableCommand {
  static var kind: Payload.Kind { get }
  var options: SendOptions { get }
}

extension TransactionKindCommand {
  static var configuration: CommandConfiguration {
    CommandConfiguration(
      commandName: kind.name.replacing(/[A-Z]/) { "-" + $0.output.lowercased() },
      abstract: "Sign and send one \(kind.name) transaction; wait for its outcome.")
  }

  func run() async throws {
    let options = self.options
    let text: Data
    if options.payload.hasPrefix("@") {
      guard let data = FileManager.default.contents(atPath: String(options.payload.dropFirst())) else {
        throw CLIError(code: "input.unreadable", message: "cannot read \(options.payload.dropFirst())")
      }
      text = data
    } else {
      text = Data(options.payload.utf8)
    }
    guard var object = try? JSONSerialization.jsonObject(with: text) as? [String: Any] else {
      throw CLIError(code: "input.malformed_json", message: "--payload is not a JSON object")
    }
    object["type"] = Self.kind.name
    let payload: Payload
    do {
      payload = try JSONDecoder().decode(Payload.self, from: JSONSerialization.data(withJSONObject: object))
    } catch {
      throw CLIError(code: "input.invalid_payload", message: "\(error)")
    }
    let sender = try await TransactionSender.connect(nodes: options.nodes)
    let transaction = try await sender.sign(
      payload, by: try readKey(options.key), cosigners: try options.cosigners.map(readKey))
    let outcome = try await sender.send(transaction, timeoutSeconds: options.timeout)
    if options.output == .json {
      print(try JSONOutput.string(outcome))
    } else {
      print(
        "\(outcome.accepted ? "committed" : "REJECTED") \(Self.kind.name) \(outcome.id) at height \(outcome.height): \(outcome.code) \(outcome.message)"
      )
    }
    if !outcome.accepted { throw ExitCode(1) }
  }
}

extension Tx {
  static let kindCommands: [any ParsableCommand.Type] = [
    RegisterBureau.self, SuspendBureau.self, ReinstateBureau.self, RemoveBureau.self, RotateBureauKeys.self,
    ChangeValidators.self, DeclareDuty.self, AmendDuty.self, RetireDuty.self, PublishDirectory.self,
    ReviseDirectory.self, RetireDirectory.self, RequestAccess.self, ApproveRequest.self, DenyRequest.self,
    GrantAccess.self, RevokeGrant.self, AttestData.self, RecordShare.self,
  ]

  struct RegisterBureau: TransactionKindCommand {
    static let kind = Payload.Kind.registerBureau
    @OptionGroup var options: SendOptions
  }
  struct SuspendBureau: TransactionKindCommand {
    static let kind = Payload.Kind.suspendBureau
    @OptionGroup var options: SendOptions
  }
  struct ReinstateBureau: TransactionKindCommand {
    static let kind = Payload.Kind.reinstateBureau
    @OptionGroup var options: SendOptions
  }
  struct RemoveBureau: TransactionKindCommand {
    static let kind = Payload.Kind.removeBureau
    @OptionGroup var options: SendOptions
  }
  struct RotateBureauKeys: TransactionKindCommand {
    static let kind = Payload.Kind.rotateBureauKeys
    @OptionGroup var options: SendOptions
  }
  struct ChangeValidators: TransactionKindCommand {
    static let kind = Payload.Kind.changeValidators
    @OptionGroup var options: SendOptions
  }
  struct DeclareDuty: TransactionKindCommand {
    static let kind = Payload.Kind.declareDuty
    @OptionGroup var options: SendOptions
  }
  struct AmendDuty: TransactionKindCommand {
    static let kind = Payload.Kind.amendDuty
    @OptionGroup var options: SendOptions
  }
  struct RetireDuty: TransactionKindCommand {
    static let kind = Payload.Kind.retireDuty
    @OptionGroup var options: SendOptions
  }
  struct PublishDirectory: TransactionKindCommand {
    static let kind = Payload.Kind.publishDirectory
    @OptionGroup var options: SendOptions
  }
  struct ReviseDirectory: TransactionKindCommand {
    static let kind = Payload.Kind.reviseDirectory
    @OptionGroup var options: SendOptions
  }
  struct RetireDirectory: TransactionKindCommand {
    static let kind = Payload.Kind.retireDirectory
    @OptionGroup var options: SendOptions
  }
  struct RequestAccess: TransactionKindCommand {
    static let kind = Payload.Kind.requestAccess
    @OptionGroup var options: SendOptions
  }
  struct ApproveRequest: TransactionKindCommand {
    static let kind = Payload.Kind.approveRequest
    @OptionGroup var options: SendOptions
  }
  struct DenyRequest: TransactionKindCommand {
    static let kind = Payload.Kind.denyRequest
    @OptionGroup var options: SendOptions
  }
  struct GrantAccess: TransactionKindCommand {
    static let kind = Payload.Kind.grantAccess
    @OptionGroup var options: SendOptions
  }
  struct RevokeGrant: TransactionKindCommand {
    static let kind = Payload.Kind.revokeGrant
    @OptionGroup var options: SendOptions
  }
  struct AttestData: TransactionKindCommand {
    static let kind = Payload.Kind.attestData
    @OptionGroup var options: SendOptions
  }
  struct RecordShare: TransactionKindCommand {
    static let kind = Payload.Kind.recordShare
    @OptionGroup var options: SendOptions
  }

  struct Template: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Print an example payload (JSON) of a transaction kind, to edit and pass as --payload.")

    @Argument(help: "The transaction kind.") var kind: String

    func run() throws {
      guard let example = FormatExamples.transactions.first(where: { $0.kind.name == kind }) else {
        throw CLIError(
          code: "input.unknown_kind",
          message:
            "\(kind) is not a transaction kind; one of \(Payload.Kind.allCases.map(\.name).joined(separator: ", "))")
      }
      print(try JSONOutput.string(example.transaction.body.payload))
    }
  }
}

func readKey(_ path: String) throws -> SecretKey {
  do { return try KeyFile.read(from: path) } catch { throw CLIError(code: "key.unreadable", message: "\(error)") }
}

/// Query subcommands mirroring the API's GET endpoints.
struct QueryCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "query",
    abstract: "Read the ledger through a node's API (JSON out).",
    discussion: """
      Examples:
        ledger-cli query bureaus --node URL
        ledger-cli query directories --bureau BJ-GAJ --node URL
        ledger-cli query directories --text 户籍 --node URL
        ledger-cli query grants --grantee BJ-ZGJJ --status all --node URL
        ledger-cli query record directory/BJ-GAJ/BJ-GAJ-R01 --node URL
        ledger-cli query tx <id> --node URL
        ledger-cli query block latest --node URL
      """)

  enum Subject: String, ExpressibleByArgument, CaseIterable {
    case bureaus, duties, directories, grants, requests, attestations, shares, record, history, tx, block, header,
      headers, account
  }

  @Argument(help: "What to read: \(Subject.allCases.map(\.rawValue).joined(separator: ", ")).") var subject: Subject
  @Argument(help: "Record key (record, history), transaction id (tx), height or latest (block, header), key (account).")
  var target: String?
  @Option(name: .customLong("node"), help: "Node API URL, e.g. http://127.0.0.1:8080; repeat it (or separate with commas) to fail over to the next.") var nodes: [String] = []
  @Option var bureau: String?
  @Option var shareType: String?
  @Option var text: String?
  @Option var grantor: String?
  @Option var grantee: String?
  @Option var directory: String?
  @Option var requester: String?
  @Option var provider: String?
  @Option var consumer: String?
  @Option var dataHash: String?
  @Option(help: "active (default) or all, for grants.") var status: String?
  @Option(help: "Page size.") var limit: Int?
  @Option(help: "The `next` cursor of a previous page.") var after: String?

  func run() async throws {
    let client = try APIClient(nodes: nodes)
    var query: [String: String] = [:]
    let options: [(String, String?)] = [
      ("bureau", bureau), ("shareType", shareType), ("text", text), ("grantor", grantor), ("grantee", grantee),
      ("directory", directory), ("requester", requester), ("provider", provider), ("consumer", consumer),
      ("dataHash", dataHash), ("status", status), ("limit", limit.map(String.init)), ("after", after),
    ]
    for case (let name, let value?) in options { query[name] = value }
    func requireTarget() throws -> String {
      guard let target else {
        throw CLIError(code: "input.missing", message: "\(subject.rawValue) needs a target argument")
      }
      return target
    }
    let response: [String: Any]
    switch subject {
    case .bureaus, .duties, .directories, .grants, .requests, .attestations, .shares, .headers:
      response = try await client.get("/v1/\(subject.rawValue)", query: query)
    case .record, .history:
      query["key"] = try requireTarget()
      response = try await client.get("/v1/\(subject.rawValue)", query: query)
    case .tx: response = try await client.get("/v1/transactions/\(try requireTarget())")
    case .block: response = try await client.get("/v1/blocks/\(try requireTarget())")
    case .header: response = try await client.get("/v1/headers/\(try requireTarget())")
    case .account: response = try await client.get("/v1/accounts/\(try requireTarget())")
    }
    print(try JSONOutput.string(JSONValue(response)))
  }
}
