import ArgumentParser
import Foundation
import Ledger
import Node

struct DevnetCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "devnet",
    abstract: "Run a local network of node processes on loopback (LOCAL DEVNET ONLY: the keys are public).",
    subcommands: [Start.self])

  struct Start: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Start N validators (and M observers) as local processes until Ctrl-C.",
      discussion: """
        Each node gets a home in DIR/<id> (config.toml, node.key, genesis.json, data/, node.log) \
        and free loopback ports. DIR/nodes.json lists them as [{id, role, pid, api, p2p, home}]. \
        Without --sample or --genesis the genesis is a fresh devnet with N validators.
        """)

    @Option(help: "Number of validators (without --sample/--genesis).") var nodes: Int = 4
    @Option(help: "Number of observers.") var observers: Int = 0
    @Option(help: "Directory for the node homes (must not hold a network yet).") var dir: String
    @Option(help: "A genesis shipped in genesis/, e.g. sample-city.") var sample: String?
    @Option(help: "A devnet-style genesis file.") var genesis: String?

    func run() async throws {
      let network = try await startLocalNetwork(
        directory: dir, validators: nodes, observers: observers, sample: sample, genesisPath: genesis)
      network.printSummary()
      say("Press Ctrl-C to stop.")
      await waitForInterrupt()
      say("Stopping…")
      network.stop()
    }
  }
}

/// Creates and starts a local network; stops what started if any node fails to come up.
func startLocalNetwork(directory: String, validators: Int, observers: Int, sample: String?, genesisPath: String?)
  async throws -> LocalNetwork
{
  guard (1...64).contains(validators) else { throw CLIError(code: "input.invalid", message: "--nodes: 1 to 64") }
  guard (0...16).contains(observers) else { throw CLIError(code: "input.invalid", message: "--observers: 0 to 16") }
  let genesisJSON: [UInt8]
  if let path = try genesisPath ?? sample.map(shippedGenesis) {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw CLIError(code: "input.unreadable", message: "cannot read \(path)")
    }
    genesisJSON = [UInt8](data)
  } else {
    genesisJSON = [UInt8](try Devnet.genesis(validatorCount: validators).jsonData())
  }
  let genesis: Genesis
  do {
    genesis = try Genesis.parse(json: Data(genesisJSON))
  } catch {
    throw CLIError(code: "genesis.invalid", message: "\(error)")
  }
  let network = try LocalNetwork.create(
    directory: directory, genesis: genesis, genesisJSON: genesisJSON, observers: observers)
  do {
    try await network.start()
  } catch {
    network.stop()
    throw error
  }
  return network
}
