'use strict'
// kafkajs driven by ../kafkajs_test.go: a JSON array of commands in
// argv[2], run in order; a JSON array of their results on stdout. An error
// exits 1 with the message on stderr.
//
// Commands (bytes are base64; a null key is no key):
//   {op: "create", brokers, topic, partitions}          -> {created}
//   {op: "delete", brokers, topic}                      -> {}
//   {op: "produce", brokers, topic, partition, acks, compression: "none"|"gzip",
//    idempotent, records: [{key, value, headers: [{key, value}], timestamp}]}
//                                                       -> {baseOffsets: [...]}
//   {op: "fetch", brokers, topic, partition, offset, count}
//                                                       -> {records: [{offset, key, value, headers, timestamp}]}
//   {op: "offsets", brokers, topic, timestamp}          -> {earliest, latest, byTime}
//
// With argv[2] = "group", argv[3] is a JSON group consumer config instead
// (groupConsume below): it streams lines on stdout until SIGTERM.
//
// kafkajs reads only as a consumer-group member; "fetch" reads by offset
// without a group, through kafkajs's own cluster and broker objects (its
// Fetch request and record decoding), which kafkajs 2.2.4 (pinned) keeps
// behind a symbol.
const { Kafka, CompressionTypes, logLevel } = require('kafkajs')

const codecs = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP }

function b64(buf) {
  return buf === null || buf === undefined ? null : Buffer.from(buf).toString('base64')
}

function unb64(s) {
  return s === null || s === undefined ? null : Buffer.from(s, 'base64')
}

async function withAdmin(kafka, fn) {
  const admin = kafka.admin()
  await admin.connect()
  try {
    return await fn(admin)
  } finally {
    await admin.disconnect()
  }
}

async function produce(kafka, cmd) {
  const producer = kafka.producer({
    idempotent: cmd.idempotent,
    maxInFlightRequests: cmd.idempotent ? 1 : undefined,
    allowAutoTopicCreation: false,
  })
  await producer.connect()
  try {
    const messages = cmd.records.map(r => ({
      partition: cmd.partition,
      key: unb64(r.key),
      value: unb64(r.value),
      headers: Object.fromEntries((r.headers || []).map(h => [h.key, unb64(h.value)])),
      timestamp: String(r.timestamp),
    }))
    // Three sends: several batches per partition.
    const baseOffsets = []
    const third = Math.ceil(messages.length / 3)
    for (let i = 0; i < messages.length; i += third) {
      const res = await producer.send({
        topic: cmd.topic,
        acks: cmd.acks,
        compression: codecs[cmd.compression],
        messages: messages.slice(i, i + third),
      })
      for (const r of res || []) baseOffsets.push(r.baseOffset)
    }
    return { baseOffsets }
  } finally {
    await producer.disconnect()
  }
}

async function fetch(kafka, cmd) {
  const sym = Object.getOwnPropertySymbols(kafka).find(s => s.description === 'private:Kafka:createCluster')
  const cluster = kafka[sym]({ allowAutoTopicCreation: false, isolationLevel: 1 })
  await cluster.connect()
  try {
    await cluster.addTargetTopic(cmd.topic)
    const leaders = cluster.findLeaderForPartitions(cmd.topic, [cmd.partition])
    const nodeId = Object.keys(leaders)[0]
    if (nodeId === undefined) throw new Error(`no leader for ${cmd.topic}/${cmd.partition}`)
    const broker = await cluster.findBroker({ nodeId })
    const records = []
    let offset = BigInt(cmd.offset)
    const deadline = Date.now() + 20000
    while (records.length < cmd.count) {
      if (Date.now() > deadline) throw new Error(`fetch: ${records.length} of ${cmd.count} records`)
      const res = await broker.fetch({
        replicaId: -1,
        isolationLevel: 1,
        maxWaitTime: 100,
        minBytes: 1,
        maxBytes: 1 << 20,
        topics: [{ topic: cmd.topic, partitions: [{ partition: cmd.partition, fetchOffset: String(offset), maxBytes: 1 << 20 }] }],
      })
      const pd = res.responses[0].partitions[0]
      if (pd.errorCode !== 0) throw new Error(`fetch ${cmd.topic}/${cmd.partition}@${offset}: error code ${pd.errorCode}`)
      for (const m of pd.messages) {
        if (BigInt(m.offset) < offset) continue // the start of a batch before the offset asked
        records.push({
          offset: Number(m.offset),
          key: b64(m.key),
          value: b64(m.value),
          headers: Object.entries(m.headers || {}).map(([key, value]) => ({ key, value: b64(value) })),
          timestamp: Number(m.timestamp),
        })
        offset = BigInt(m.offset) + 1n
      }
    }
    return { records: records.slice(0, cmd.count) }
  } finally {
    await cluster.disconnect()
  }
}

async function run(cmd) {
  const kafka = new Kafka({
    clientId: 'minibroker-tests',
    brokers: cmd.brokers,
    logLevel: logLevel.ERROR,
    retry: { initialRetryTime: 50, retries: 10 },
  })
  switch (cmd.op) {
    case 'create':
      return withAdmin(kafka, async admin => ({
        created: await admin.createTopics({
          waitForLeaders: true,
          topics: [{ topic: cmd.topic, numPartitions: cmd.partitions, replicationFactor: -1 }],
        }),
      }))
    case 'delete':
      return withAdmin(kafka, async admin => {
        await admin.deleteTopics({ topics: [cmd.topic] })
        return {}
      })
    case 'produce':
      return produce(kafka, cmd)
    case 'fetch':
      return fetch(kafka, cmd)
    case 'offsets':
      return withAdmin(kafka, async admin => {
        const both = await admin.fetchTopicOffsets(cmd.topic)
        const byTime = await admin.fetchTopicOffsetsByTimestamp(cmd.topic, cmd.timestamp)
        const sorted = a => a.sort((x, y) => x.partition - y.partition)
        return {
          earliest: sorted(both).map(p => Number(p.low)),
          latest: sorted(both).map(p => Number(p.high)),
          byTime: sorted(byTime).map(p => Number(p.offset)),
        }
      })
    default:
      throw new Error(`unknown op ${cmd.op}`)
  }
}

async function runAll(cmds) {
  const out = []
  for (const cmd of cmds) out.push(await run(cmd))
  return out
}

function out(line) {
  // Synchronous for pipes on Linux: a line is out before the next step.
  process.stdout.write(line + '\n')
}

// groupConsume is a kafkajs group member: {brokers, group, topic,
// sessionMs, stopAfter}. It prints "rec <partition> <offset>" for each
// message processed and, after each 5 (or the end of a batch), commits
// them and prints "commit <partition> <next offset>". With stopAfter > 0,
// once more than that many are processed it prints "hang" and stops
// without committing the last ones (to be killed). SIGTERM disconnects
// (LeaveGroup) and exits 0.
async function groupConsume(cfg) {
  const kafka = new Kafka({
    clientId: 'minibroker-tests-group',
    brokers: cfg.brokers,
    logLevel: logLevel.ERROR,
    retry: { initialRetryTime: 50, retries: 20 },
  })
  const consumer = kafka.consumer({
    groupId: cfg.group,
    sessionTimeout: cfg.sessionMs,
    heartbeatInterval: Math.floor(cfg.sessionMs / 10),
    rebalanceTimeout: 2 * cfg.sessionMs,
    maxWaitTimeInMs: 100,
    retry: { initialRetryTime: 50, retries: 20 },
  })
  process.on('SIGTERM', () => {
    consumer.disconnect().finally(() => process.exit(0))
  })
  await consumer.connect()
  await consumer.subscribe({ topics: [cfg.topic], fromBeginning: true })
  let processed = 0
  let hanging = false
  const forever = () => new Promise(() => {})
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      if (hanging) return forever()
      const msgs = batch.messages
      for (let i = 0; i < msgs.length && isRunning() && !isStale(); i += 5) {
        const chunk = msgs.slice(i, i + 5)
        for (const m of chunk) {
          out(`rec ${batch.partition} ${m.offset}`)
          resolveOffset(m.offset)
        }
        processed += chunk.length
        if (cfg.stopAfter > 0 && processed > cfg.stopAfter) {
          hanging = true
          out('hang')
          return forever()
        }
        const next = (BigInt(chunk[chunk.length - 1].offset) + 1n).toString()
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }])
        out(`commit ${batch.partition} ${next}`)
        await heartbeat()
      }
    },
  })
}

if (process.argv[2] === 'group') {
  groupConsume(JSON.parse(process.argv[3])).catch(err => {
    process.stderr.write(`kafkajs: ${err.stack || err}\n`)
    process.exit(1)
  })
} else runAll(JSON.parse(process.argv[2])).then(
  res => process.stdout.write(JSON.stringify(res) + '\n'),
  err => {
    process.stderr.write(`kafkajs: ${err.stack || err}\n`)
    process.exit(1)
  }
)
