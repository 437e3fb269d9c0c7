import ArgumentParser
import Consensus
import Foundation
import Ledger
import Node

extension Dev {
  /// A mutation fuzzer for everything that parses input from outside
  /// (docs/RELIABILITY.md, "Hostile input").
  struct Fuzz: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Fuzz the decoders with mutations of a corpus, for a bounded time.",
      discussion: """
        Targets: frame (peer frames, consensus messages included), transaction (canonical \
        SignedTransaction), bundle (proof bundles, binary and JSON), submission (the JSON body of \
        POST /v1/transactions), batch (the binary body of POST /v1/transactions/batch). Each input is a corpus file mutated by bit flips, byte changes, \
        insertions, deletions, truncations, splices with another corpus file and length-field \
        bumps. Invariants: nothing crashes; whatever decodes re-encodes to the same bytes (binary \
        targets); whatever the submission parser accepts is a transaction that re-encodes to the \
        hex it came from; every transaction the batch parser accepts is one of the body's elements, \
        byte for byte, and only a body that is exactly such a list is read. Failing inputs are written to --crashes. --write-corpus regenerates the \
        seed corpus from the worked examples.
        """)

    enum Target: String, ExpressibleByArgument, CaseIterable { case frame, transaction, bundle, submission, batch }

    @Option(help: "frame, transaction, bundle, submission, batch, or all.") var target: String = "all"
    @Option(help: "Seconds per target.") var seconds: Double = 10
    @Option(help: "The seed corpus directory (one folder per target).") var corpus: String = "Tests/Fuzz/corpus"
    @Option(help: "Where failing inputs are written.") var crashes: String =
      NSTemporaryDirectory() + "dirledger-fuzz-failures"
    @Option(help: "Random seed (default: random; printed).") var seed: UInt64?
    @Flag(help: "Write the seed corpus from the worked examples and exit.") var writeCorpus = false

    func run() throws {
      let targets =
        target == "all"
        ? Target.allCases
        : [
          try Target(rawValue: target)
            ?? {
              throw CLIError(
                code: "input.invalid", message: "--target: frame, transaction, bundle, submission, batch or all")
            }()
        ]
      if writeCorpus {
        try FuzzCorpus.write(to: corpus)
        print("wrote the seed corpus to \(corpus)")
        return
      }
      let seed = seed ?? UInt64.random(in: 0...UInt64.max)
      // First, so a run that hangs or crashes can be replayed with --seed.
      print("seed \(seed)")
      var failures = 0
      for target in targets {
        let seeds = try FuzzCorpus.load(corpus + "/" + target.rawValue)
        guard !seeds.isEmpty else {
          throw CLIError(code: "fuzz.empty_corpus", message: "no files in \(corpus)/\(target.rawValue)")
        }
        var generator = SplitMix64(seed: SplitMix64.seed(seed, target.rawValue))
        let deadline = Date().addingTimeInterval(seconds)
        var executions = 0
        var decoded = 0
        while Date() < deadline {
          for _ in 0..<200 {
            let input = Mutator.mutate(
              seeds[Int(generator.next() % UInt64(seeds.count))], corpus: seeds, using: &generator)
            executions += 1
            switch Self.check(target, input) {
            case .refused: break
            case .decoded: decoded += 1
            case .violated(let why):
              failures += 1
              try FileManager.default.createDirectory(atPath: crashes, withIntermediateDirectories: true)
              let path = "\(crashes)/\(target.rawValue)-\(executions).bin"
              FileManager.default.createFile(atPath: path, contents: Data(input))
              print("VIOLATION in \(target.rawValue): \(why) (input saved to \(path))")
            }
          }
        }
        print(
          "\(target.rawValue): \(executions) inputs in \(String(format: "%.0f", seconds)) s, \(decoded) decoded, \(executions - decoded) refused with an error, seed \(seed)"
        )
      }
      if failures > 0 { throw ExitCode(1) }
    }

    enum Outcome {
      case refused, decoded
      case violated(String)
    }

    static func check(_ target: Target, _ input: [UInt8]) -> Outcome {
      switch target {
      case .frame: return roundTrip(input, PeerFrame.self)
      case .transaction: return roundTrip(input, SignedTransaction.self)
      case .bundle:
        if input.first == UInt8(ascii: "{") {
          return (try? JSONDecoder().decode(ProofBundle.self, from: Data(input))) == nil ? .refused : .decoded
        }
        return roundTrip(input, ProofBundle.self)
      case .submission:
        switch HTTPAPI.parseSubmission(input) {
        case .failure(let refused):
          return (400..<500).contains(refused.status) ? .refused : .violated("status \(refused.status) for bad input")
        case .success(let transaction):
          guard let object = try? JSONSerialization.jsonObject(with: Data(input)) as? [String: Any],
            let hex = object["transaction"] as? String, Hex.decode(hex) == transaction.canonicalBytes
          else { return .violated("accepted a transaction that does not re-encode to its hex") }
          return .decoded
        }
      case .batch:
        switch HTTPAPI.parseBinaryBatch(input) {
        case .failure(let refused):
          return (400..<500).contains(refused.status) ? .refused : .violated("status \(refused.status) for bad input")
        case .success(let elements):
          // Read independently: the body must be a list of byte strings and nothing more.
          var reader = CanonicalReader(input)
          let listed = try? reader.read(array: "transactions", count: 1...HTTPAPI.batchTransactionsMax) {
            (element) throws(FormatError) in try element.read(bytes: "transaction", limit: Int(UInt32.max))
          }
          guard let listed, (try? reader.finish()) != nil, listed.count == elements.count
          else { return .violated("accepted a body that is not a list of 1 to 10,000 byte strings") }
          for (bytes, element) in zip(listed, elements) {
            switch element {
            case .success(let transaction) where transaction.canonicalBytes != bytes:
              return .violated("accepted a transaction that does not re-encode to its element")
            case .failure(let refused) where !(400..<500).contains(refused.status):
              return .violated("status \(refused.status) for a bad element")
            default: continue
            }
          }
          return elements.contains { (try? $0.get()) != nil } ? .decoded : .refused
        }
      }
    }

    static func roundTrip<Value: CanonicalCodable>(_ input: [UInt8], _ type: Value.Type) -> Outcome {
      guard let value = try? Value(canonicalBytes: input) else { return .refused }
      return value.canonicalBytes == input ? .decoded : .violated("decodes but re-encodes differently")
    }
  }
}

enum Mutator {
  static func mutate(_ seed: [UInt8], corpus: [[UInt8]], using generator: inout SplitMix64) -> [UInt8] {
    var bytes = seed
    let rounds = 1 + Int(generator.next() % 4)
    for _ in 0..<rounds {
      let position = bytes.isEmpty ? 0 : Int(generator.next() % UInt64(bytes.count))
      switch generator.next() % 8 {
      case 0 where !bytes.isEmpty: bytes[position] ^= UInt8(1 << (generator.next() % 8))
      case 1 where !bytes.isEmpty: bytes[position] = UInt8(truncatingIfNeeded: generator.next())
      case 2: bytes.insert(UInt8(truncatingIfNeeded: generator.next()), at: position)
      case 3 where !bytes.isEmpty: bytes.remove(at: position)
      case 4: bytes = Array(bytes.prefix(position))
      case 5:
        let other = corpus[Int(generator.next() % UInt64(corpus.count))]
        let cut = other.isEmpty ? 0 : Int(generator.next() % UInt64(other.count))
        bytes = Array(bytes.prefix(position)) + other[cut...]
      case 6 where !bytes.isEmpty:
        // Lengths and counts are small numbers: make one huge or off by one.
        let values: [UInt8] = [0, 1, 0x7F, 0x80, 0xFF]
        bytes[position] = values[Int(generator.next() % UInt64(values.count))]
      case 7 where bytes.count > 1:
        let other = Int(generator.next() % UInt64(bytes.count))
        bytes.swapAt(position, other)
      default: break
      }
    }
    return bytes
  }
}

enum FuzzCorpus {
  static func load(_ directory: String) throws -> [[UInt8]] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    return names.sorted().compactMap { FileManager.default.contents(atPath: directory + "/" + $0).map { [UInt8]($0) } }
  }

  static func write(to directory: String) throws {
    func save(_ target: String, _ name: String, _ bytes: [UInt8]) throws {
      try FileManager.default.createDirectory(atPath: "\(directory)/\(target)", withIntermediateDirectories: true)
      FileManager.default.createFile(atPath: "\(directory)/\(target)/\(name)", contents: Data(bytes))
    }
    for (kind, transaction) in FormatExamples.transactions {
      try save("transaction", "\(kind.name).bin", transaction.canonicalBytes)
      try save(
        "submission", "\(kind.name).json", Array(#"{"transaction":"\#(Hex.encode(transaction.canonicalBytes))"}"#.utf8))
      try save("frame", "transactions-\(kind.name).bin", PeerFrame.transactions([transaction]).canonicalBytes)
    }
    let block = FormatExamples.block
    let vote = FormatExamples.vote
    let certificate = FormatExamples.certificate
    let prePrepare = PrePrepare(block: block, primaryVote: vote)
    let viewChange = ViewChange(
      newView: 2, replica: vote.voter, committedHeight: 1, committedCertificate: certificate,
      prepared: [PreparedCertificate(prePrepare: prePrepare, prepares: [vote])], signature: vote.signature)
    let messages: [(String, ConsensusMessage)] = [
      ("prePrepare", .prePrepare(prePrepare)), ("vote", .vote(vote)), ("viewChange", .viewChange(viewChange)),
      ("newView", .newView(NewView(view: 2, viewChanges: [viewChange], prePrepares: [prePrepare]))),
      ("blockRequest", .blockRequest(fromHeight: 9)),
      ("blockResponse", .blockResponse([CommittedBlock(block: block, certificate: certificate)])),
    ]
    for (name, message) in messages { try save("frame", "\(name).bin", PeerFrame.consensus(message).canonicalBytes) }
    let hello = PeerHello(
      chainId: Devnet.chainId, genesisHash: Devnet.genesis().hash, nodeKey: vote.voter, role: .validator,
      challenge: SHA256.hash([7]))
    try save("frame", "hello.bin", PeerFrame.hello(hello).canonicalBytes)
    try save("frame", "auth.bin", PeerFrame.auth(vote.signature).canonicalBytes)
    try save("frame", "refusal.bin", PeerFrame.refusal(code: "peer.unknown_key", message: "no").canonicalBytes)
    try save("submission", "malformed.json", Array(#"{"transaction": 12, "x": [}"#.utf8))
    let examples = FormatExamples.transactions.map(\.transaction)
    for (name, members) in [("one", Array(examples.prefix(1))), ("all", examples)] {
      var writer = CanonicalWriter()
      writer.write(transactionList: members)
      try save("batch", "\(name).bin", writer.bytes)
    }
    let example = try String(contentsOfFile: "docs/examples/provenance-bundle.hex", encoding: .utf8)
    if let bytes = Hex.decode(example.trimmingCharacters(in: .whitespacesAndNewlines)) {
      try save("bundle", "provenance.bin", bytes)
    }
    if let json = FileManager.default.contents(atPath: "docs/examples/provenance-bundle.json") {
      try save("bundle", "provenance.json", [UInt8](json))
    }
  }
}
