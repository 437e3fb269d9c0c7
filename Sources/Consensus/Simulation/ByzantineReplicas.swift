public import Ledger

/// Byzantine replicas run the honest code, and the simulator rewrites what
/// they send and adds what an attacker would: they sign with their own key
/// directly, bypassing `SafetyRules`, which is exactly what a faulty node can do.
extension Simulator {
  func signer(_ index: Int) -> SimulatedSigner { SimulatedSigner(publicKey: keys[index]) }

  func signedVote(_ index: Int, _ phase: VotePhase, view: UInt64, height: UInt64, hash: Hash256) -> Vote {
    let statement = VoteStatement(phase: phase, chainId: chainId, height: height, view: view, blockHash: hash)
    return Vote(
      statement: statement, voter: keys[index], signature: signer(index).sign(digest: statement.signingDigest))
  }

  /// The messages a Byzantine replica actually sends in place of `message` to `to`.
  mutating func byzantineRewrite(_ message: ConsensusMessage, from index: Int, to: Int) -> [(ConsensusMessage, Int)] {
    let behaviours = options.behaviours
    let replica = hosts[index].replica
    if behaviours.contains(.silent), let replica, replica.primary(of: replica.view) == keys[index] {
      return []
    }
    switch message {
    case .prePrepare(let prePrepare) where behaviours.contains(.equivocate) && to % 2 == 1:
      // Half the backups get another block at the same height, with a valid vote for it.
      var transactions = prePrepare.block.transactions
      transactions.append(transaction(height: prePrepare.height, view: prePrepare.view, number: 999))
      let parent: BlockHeader
      if let chainParent = hosts[index].chain.last(where: { $0.block.header.height == prePrepare.height - 1 }) {
        parent = chainParent.block.header
      } else if prePrepare.height == 1 {
        parent = genesis
      } else {
        return [(message, to)]
      }
      guard
        let other = executor.buildBlock(
          on: parent, height: prePrepare.height, transactions: transactions, proposer: keys[index],
          validators: hosts[index].replica?.workingSet ?? validators)
      else { return [(message, to)] }
      let vote = signedVote(index, .prepare, view: prePrepare.view, height: prePrepare.height, hash: other.header.hash)
      log("r\(index) equivocates at h=\(prePrepare.height) v=\(prePrepare.view) towards r\(to)")
      return [(.prePrepare(PrePrepare(block: other, primaryVote: vote)), to)]
    case .viewChange(let viewChange) where behaviours.contains(.amnesia):
      let digest = ViewChange.signingDigest(
        chainId: chainId, newView: viewChange.newView, replica: keys[index],
        committedHeight: viewChange.committedHeight,
        committedBlockHash: viewChange.committedCertificate?.blockHash, prepared: [])
      return [
        (
          .viewChange(
            ViewChange(
              newView: viewChange.newView, replica: keys[index], committedHeight: viewChange.committedHeight,
              committedCertificate: viewChange.committedCertificate, prepared: [],
              signature: signer(index).sign(digest: digest))),
          to
        )
      ]
    default:
      return [(message, to)]
    }
  }

  /// Unprompted attacks, a few per second.
  mutating func byzantineNoise(_ index: Int) {
    guard let replica = hosts[index].replica, random.chance(0.05) else { return }
    let peer = (index + 1 + Int.random(in: 0..<max(1, hosts.count - 1), using: &random)) % hosts.count
    guard peer != index else { return }
    let height = replica.committedHeight + 1
    let someHash = SHA256.hash(Array("junk \(random.next())".utf8))
    let behaviours = Array(options.behaviours.filter { [.forge, .replay, .wrongView].contains($0) }).sorted {
      $0.rawValue < $1.rawValue
    }
    guard let behaviour = behaviours.randomElement(using: &random) else { return }
    switch behaviour {
    case .forge:
      // A vote in an honest validator's name; it cannot produce that validator's signature.
      let victim = keys[(index + 1) % keys.count]
      let statement = VoteStatement(
        phase: .commit, chainId: chainId, height: height, view: replica.view, blockHash: someHash)
      let forged = Vote(statement: statement, voter: victim, signature: Signature(r: someHash, s: someHash))
      transmit(.vote(forged), from: index, to: peer)
    case .replay:
      if let old = hosts[index].seen.randomElement(using: &random) { transmit(old, from: index, to: peer) }
      if let own = hosts[index].wal.randomElement(using: &random), case .vote(let vote) = own {
        transmit(.vote(vote), from: index, to: peer)
      }
    case .wrongView:
      let view = replica.view + UInt64.random(in: 1...3, using: &random)
      transmit(.vote(signedVote(index, .prepare, view: view, height: height, hash: someHash)), from: index, to: peer)
    default:
      break
    }
  }
}
