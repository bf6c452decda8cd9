'use strict'
// withDeadline (js/options.js): what #consult bounds each host's part of a call with.
const { withDeadline } = require('../js/options.js')

const never = () => new Promise(() => {})
const expiry = (n) => () => Object.assign(new Error(`late ${n}`), { code: 'LATE' })

beforeEach(() => jest.useFakeTimers())
afterEach(() => jest.useRealTimers())

test('the work settles first: its value or its error, and no timer is left', async () => {
  await expect(withDeadline(Promise.resolve(7), 1000, expiry(0))).resolves.toBe(7)
  await expect(withDeadline(Promise.reject(new Error('no')), 1000, expiry(0))).rejects.toThrow('no')
  expect(jest.getTimerCount()).toBe(0)
})

test('a deadline never fires before its time; concurrent deadlines share one timer', async () => {
  const calls = Array.from({ length: 2000 }, (_, n) => withDeadline(never(), 1000, expiry(n)))
  const outcomes = calls.map((p) => p.then(() => 'done', (e) => e.code))
  expect(jest.getTimerCount()).toBe(1)
  let settled = 0
  for (const p of outcomes) p.then(() => settled++)
  await jest.advanceTimersByTimeAsync(999)
  expect(settled).toBe(0)
  await jest.advanceTimersByTimeAsync(100)
  expect(await Promise.all(outcomes)).toEqual(Array(2000).fill('LATE'))
  expect(jest.getTimerCount()).toBe(0)
})

test('a call made later gets a timer of its own (never an earlier one), other lengths too', async () => {
  const first = withDeadline(never(), 1000, expiry(1)).catch((e) => e.message)
  await jest.advanceTimersByTimeAsync(600)
  const second = withDeadline(never(), 1000, expiry(2)).catch((e) => e.message)
  const shorter = withDeadline(never(), 10, expiry(3)).catch((e) => e.message)
  expect(jest.getTimerCount()).toBe(3)
  await jest.advanceTimersByTimeAsync(500)
  expect(await first).toBe('late 1')
  expect(await shorter).toBe('late 3')
  let secondDone = false
  second.then(() => (secondDone = true))
  await jest.advanceTimersByTimeAsync(400)
  expect(secondDone).toBe(false)
  await jest.advanceTimersByTimeAsync(200)
  expect(await second).toBe('late 2')
})

test('a timer nobody waits on any more is cleared at once', async () => {
  let finish
  const work = new Promise((resolve) => (finish = resolve))
  const p = withDeadline(work, 5000, expiry(0))
  expect(jest.getTimerCount()).toBe(1)
  finish('ok')
  await expect(p).resolves.toBe('ok')
  expect(jest.getTimerCount()).toBe(0)
})
