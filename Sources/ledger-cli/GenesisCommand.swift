import ArgumentParser
import Foundation
import Ledger

struct GenesisCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "genesis",
    abstract: "Check genesis files and write the local devnet's.",
    subcommands: [Inspect.self, Devnet.self])

  struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Check a genesis file by building its state; print its hash (the chain's root of trust) and contents.")

    @Argument(help: "Path of the genesis JSON file.")
    var file: String

    struct Summary: Encodable {
      let chainId: String
      let genesisHash: Hash256
      let genesisBlockHash: Hash256
      let stateRoot: Hash256
      let validatorSetHash: Hash256
      let validators: Int
      let governanceThreshold: String
      let bureaus: Int
      let duties: Int
      let directories: Int
      let grants: Int
    }

    func run() throws {
      let genesis = try loadGenesis(file)
      let state: GenesisState
      do {
        state = try genesis.buildState(tree: SparseMerkleTree(source: InMemorySparseMerkleNodes()))
      } catch let error as GenesisError {
        throw CLIError(code: error.code, message: "\(file): \(error.description)")
      }
      print(
        try JSONOutput.string(
          Summary(
            chainId: genesis.chainId, genesisHash: genesis.hash, genesisBlockHash: state.block.header.hash,
            stateRoot: state.block.header.stateRoot, validatorSetHash: state.block.header.validatorSetHash,
            validators: genesis.validators.count,
            governanceThreshold: "\(genesis.governance.threshold) of \(genesis.governance.keys.count)",
            bureaus: genesis.bureaus.count, duties: genesis.duties.count, directories: genesis.directories.count,
            grants: genesis.grants.count)))
    }
  }

  struct Devnet: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Print (or write) the devnet genesis: keys derived from public labels, for local use only.")

    @Option(name: .long, help: "Number of validators (1 to 64).")
    var validators: Int = 4

    @Option(name: .long, help: "Write to this file instead of standard output; an existing file is not overwritten.")
    var out: String?

    func validate() throws {
      guard (1...64).contains(validators) else {
        throw CLIError(code: "genesis.invalid_option", message: "--validators must be between 1 and 64")
      }
    }

    func run() throws {
      let data = try Ledger.Devnet.genesis(validatorCount: validators).jsonData() + Data("\n".utf8)
      guard let out else {
        FileHandle.standardOutput.write(data)
        return
      }
      do {
        try data.write(to: URL(fileURLWithPath: out), options: .withoutOverwriting)
      } catch {
        throw CLIError(code: "genesis.write_failed", message: "cannot create \(out): \(error.localizedDescription)")
      }
    }
  }
}

/// Loads a genesis file, turning every failure into a `genesis.*` error that names the field.
func loadGenesis(_ path: String) throws -> Genesis {
  do {
    return try Genesis.load(path: path)
  } catch let error as GenesisError {
    throw CLIError(code: error.code, message: "\(path): \(error.description)")
  }
}
