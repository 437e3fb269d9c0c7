import ArgumentParser
import Foundation
import Ledger
import Node

struct Dev: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Tools for developers of clients and verifiers.",
    subcommands: [
      Examples.self, DevnetKey.self, FillStore.self, CheckStore.self, Simulate.self, Faults.self, Fuzz.self,
    ])

  struct DevnetKey: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "devnet-key",
      abstract: "Write a LOCAL DEVNET key (derived from a public label) to a key file.",
      discussion: """
        Labels: operator/<bureauId>, node/<bureauId>, governance-1 … governance-3 (docs/OPERATIONS.md). \
        Anyone can derive these keys: they sign for devnet.json and sample-city.json only.
        """)

    @Option(help: "The label, e.g. operator/BJ-GAJ.") var label: String
    @Option(help: "Key file to create (mode 0600, never overwritten).") var out: String

    func run() throws {
      let key = Devnet.key(label)
      do {
        try KeyFile.write(key, to: out)
      } catch {
        throw CLIError(code: "key.unwritable", message: "\(error)")
      }
      print(key.publicKey.hex)
    }
  }

  struct Examples: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Print the worked examples of docs/FORMAT.md as hex, one per line: NAME HEX.",
      discussion: "With --name, print only that example's hex (e.g. to pipe into `tx decode`).")

    @Option(help: "Print only this example, e.g. transaction/grantAccess, blockHeader, vote.")
    var name: String?

    func run() throws {
      let vectors = FormatExamples.vectors
      guard let name else {
        for vector in vectors { print(vector.name, Hex.encode(vector.bytes)) }
        return
      }
      guard let vector = vectors.first(where: { $0.name == name }) else {
        throw CLIError(
          code: "input.unknown_example",
          message: "no example named \(name); known: \(vectors.map(\.name).joined(separator: ", "))")
      }
      print(Hex.encode(vector.bytes))
    }
  }
}

extension Dev {
  struct FillStore: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "fill-store",
      abstract: "Commit devnet blocks into a store as fast as possible, printing each committed height.",
      discussion: """
        For crash testing: kill the process at any moment and `dev check-store` must find the store \
        at a block boundary, with every printed height durable.
        """)

    @Option(help: "Data directory of the store (created if missing).")
    var data: String

    @Option(help: "Blocks to commit (1 to 1,000,000).")
    var blocks: Int = 100

    @Option(help: "Transactions per block (1 to 10,000).")
    var transactions: Int = 50

    func validate() throws {
      guard (1...1_000_000).contains(blocks), (1...Limits.blockTransactionCountMax).contains(transactions) else {
        throw CLIError(code: "input.out_of_range", message: "--blocks 1…1,000,000 and --transactions 1…10,000")
      }
    }

    func run() throws {
      let genesis = Ledger.Devnet.genesis()
      let store = try LedgerStore(path: data, genesis: genesis)
      let operatorKey = Ledger.Devnet.operatorKey("BJ-GAJ")
      let validatorKeys = Ledger.Devnet.validatorKeys(of: genesis)
      var sequence = try store.nextSequence(of: operatorKey.publicKey)
      for _ in 0..<blocks {
        let height = store.head.height + 1
        let batch = (0..<transactions).map { index in
          let duty = Duty(
            bureauId: "BJ-GAJ", dutyId: "D-\(height)-\(index)", title: "压力测试职责", legalBasis: "", description: "")
          defer { sequence += 1 }
          return SignedTransaction(
            body: TransactionBody(
              chainId: genesis.chainId, signer: operatorKey.publicKey, sequence: sequence, payload: .declareDuty(duty)),
            signedBy: [operatorKey])
        }
        let timeMs = store.head.timeMs + 1_000
        let execution = try store.execute(batch, timeMs: timeMs, signatureCheck: .alreadyVerified)
        let block = store.nextBlock(
          transactions: batch, timeMs: timeMs, execution: execution, proposer: validatorKeys[0].publicKey)
        let certificate = Ledger.Devnet.certify(
          block.header, keys: validatorKeys, quorum: execution.validatorSet.quorum)
        try store.commit(block, certificate: certificate, execution: execution)
        // Unbuffered, so a reader that kills this process has seen every height that was committed.
        FileHandle.standardOutput.write(Data("committed \(height)\n".utf8))
      }
    }
  }

  struct CheckStore: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "check-store",
      abstract: "Open a devnet store and check it is consistent at its head; print the head height.")

    @Option(help: "Data directory of the store.")
    var data: String

    func run() throws {
      let store = try LedgerStore(path: data, genesis: Ledger.Devnet.genesis())
      try store.verifyIntegrity()
      print(store.head.height)
    }
  }
}
