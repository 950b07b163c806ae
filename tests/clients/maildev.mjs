// PeerTube's own test mail server (@peertube/maildev, npm) on loopback, for the sign-up and
// password-reset tests (tests/signup_and_mail.rs):
//   node maildev.mjs PORT
// Prints `{"ready":PORT}` once it listens, then one JSON line per message received:
// `{"to":[…addresses],"subject":…,"text":…}`. Exits when its stdin closes (the test ended), so
// it never outlives the test.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const MailDev = require('@peertube/maildev')

const port = Number(process.argv[2])
const maildev = MailDev({ ip: '127.0.0.1', smtp: port, disableWeb: true, silent: true })
maildev.on('new', (email) => {
  const to = (email.to || []).map((t) => t.address)
  process.stdout.write(JSON.stringify({ to, subject: email.subject, text: email.text }) + '\n')
})
maildev.listen((err) => {
  if (err) {
    process.stderr.write(`maildev: ${err}\n`)
    process.exit(1)
  }
  process.stdout.write(JSON.stringify({ ready: port }) + '\n')
})
process.stdin.on('end', () => process.exit(0))
process.stdin.resume()
