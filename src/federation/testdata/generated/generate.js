// Regenerates the vectors in this folder with jsonld.js, the library PeerTube signs and
// verifies LD signatures with:
//   npm install jsonld@8.3.3 && node generate.js   (run from this folder)
// Contexts are the built-in copies in ../../ld/contexts/; keys are PeerTube's test keys.
'use strict';
const jsonld = require('jsonld'); const crypto = require('crypto'); const fs = require('fs');
const path = require('path');
const here = (...p) => path.join(__dirname, ...p);
const cache = {
  'https://w3id.org/security/v1': JSON.parse(fs.readFileSync(here('../../ld/contexts/security-v1.json'))),
  'https://www.w3.org/ns/activitystreams': JSON.parse(fs.readFileSync(here('../../ld/contexts/activitystreams.json')))
};
jsonld.documentLoader = async (url) => {
  if (cache[url]) return { contextUrl: null, document: cache[url], documentUrl: url };
  throw new Error('no network here: ' + url);
};
const sha = s => crypto.createHash('sha256').update(s).digest('hex');
// safe: false keeps jsonld.js 8 from refusing documents with undefined terms (it drops them).
const norm = o => jsonld.normalize(o, { algorithm: 'URDNA2015', format: 'application/n-quads', safe: false });
const out = (name, text) => fs.writeFileSync(here(name), text);
const base = ['https://www.w3.org/ns/activitystreams','https://w3id.org/security/v1',{RsaSignature2017:'https://w3id.org/security#RsaSignature2017'}];
const videoCtx = [...base, { pt: 'https://joinpeertube.org/ns#', sc: 'http://schema.org/',
    Hashtag: 'as:Hashtag', category: 'sc:category', licence: 'sc:license', subtitleLanguage: 'sc:subtitleLanguage',
    automaticallyGenerated: 'pt:automaticallyGenerated', sensitive: 'as:sensitive', language: 'sc:inLanguage', identifier: 'sc:identifier',
    isLiveBroadcast: 'sc:isLiveBroadcast', liveSaveReplay: { '@type': 'sc:Boolean', '@id': 'pt:liveSaveReplay' },
    permanentLive: { '@type': 'sc:Boolean', '@id': 'pt:permanentLive' }, latencyMode: { '@type': 'sc:Number', '@id': 'pt:latencyMode' },
    Infohash: 'pt:Infohash', aspectRatio: { '@type': 'sc:Float', '@id': 'pt:aspectRatio' },
    uuid: { '@type': 'sc:identifier', '@id': 'pt:uuid' }, originallyPublishedAt: 'sc:datePublished',
    uploadDate: 'sc:uploadDate', views: { '@type': 'sc:Number', '@id': 'pt:views' }, state: { '@type': 'sc:Number', '@id': 'pt:state' },
    size: { '@type': 'sc:Number', '@id': 'pt:size' }, fps: { '@type': 'sc:Number', '@id': 'pt:fps' }, canReply: 'pt:canReply',
    commentsPolicy: { '@type': 'sc:Number', '@id': 'pt:commentsPolicy' }, downloadEnabled: { '@type': 'sc:Boolean', '@id': 'pt:downloadEnabled' },
    waitTranscoding: { '@type': 'sc:Boolean', '@id': 'pt:waitTranscoding' }, support: { '@type': 'sc:Text', '@id': 'pt:support' },
    likes: { '@id': 'as:likes', '@type': '@id' }, dislikes: { '@id': 'as:dislikes', '@type': '@id' }, shares: { '@id': 'as:shares', '@type': '@id' },
    comments: { '@id': 'as:comments', '@type': '@id' }, PropertyValue: 'sc:PropertyValue', value: 'sc:value' }];
const H='https://peertube.example', U='0d3b7f43-4c1d-4a4e-9b3c-2f0c0f2a9e11', V=`${H}/videos/watch/${U}`;
const video = { type: 'Video', id: V, name: 'Démo "quoted"\nsecond line \\ backslash', duration: 'PT42S', uuid: U,
  category: { identifier: '15', name: 'Science & Technology' }, language: { identifier: 'fr', name: 'French' },
  views: 12, sensitive: false, waitTranscoding: true, state: 1, commentsPolicy: 1, canReply: null, downloadEnabled: true,
  published: '2025-01-01T00:00:00.000Z', updated: '2025-01-02T03:04:05.678Z', originallyPublishedAt: null,
  tag: [{ type: 'Hashtag', name: 'demo' }, { type: 'Hashtag', name: 'demo' }, { type: 'Hashtag', name: 'rust' }],
  mediaType: 'text/markdown', content: 'Description with **markdown** and an emoji 🎬', support: 'Tip me',
  subtitleLanguage: [], aspectRatio: 1.7778, isLiveBroadcast: false, liveSaveReplay: null,
  contentMap: { EN: 'Description', fr: ['Descriptif', 'Autre'] },
  icon: [{ type: 'Image', url: `${H}/lazy-static/thumbnails/a.jpg`, mediaType: 'image/jpeg', width: 280, height: 157 },
         { type: 'Image', url: `${H}/lazy-static/previews/a.jpg`, mediaType: 'image/jpeg', width: 850, height: 480 }],
  url: [ { type: 'Link', mediaType: 'text/html', href: `${H}/w/abc` },
    { type: 'Link', mediaType: 'application/x-mpegURL', href: `${H}/static/streaming-playlists/hls/${U}/m-master.m3u8`,
      tag: [ { type: 'Infohash', name: '3b4c8f2f0c6f1d2e3a4b5c6d7e8f9a0b1c2d3e4f' },
        { type: 'Link', name: 'sha256', mediaType: 'application/json', href: `${H}/static/streaming-playlists/hls/${U}/s-segments-sha256.json` },
        { type: 'Link', mediaType: 'video/mp4', href: `${H}/static/streaming-playlists/hls/${U}/f-720-fragmented.mp4`, height: 720, width: 1280, size: 1048576, fps: 30,
          attachment: [ { type: 'PropertyValue', name: 'ffprobe_codec_type', value: 'video' }, { type: 'PropertyValue', name: 'peertube_format_flag', value: 2 } ] } ] },
    { type: 'Link', name: 'tracker-websocket', rel: ['tracker', 'websocket'], href: 'wss://peertube.example/tracker/socket' } ],
  likes: `${V}/likes`, dislikes: `${V}/dislikes`, shares: `${V}/announces`, comments: `${V}/comments`,
  attributedTo: [ { type: 'Person', id: `${H}/accounts/alice` }, { type: 'Group', id: `${H}/video-channels/alice_channel` } ],
  to: ['https://www.w3.org/ns/activitystreams#Public'], cc: [`${H}/accounts/alice/followers`] };
const create = { '@context': videoCtx, type: 'Create', id: `${V}/activity`, actor: `${H}/accounts/alice`,
  to: video.to, cc: video.cc, object: video };
const collection = { '@context': base, type: 'OrderedCollectionPage', id: `${H}/outbox?page=1`, totalItems: 3,
  orderedItems: [`${V}/activity`, { type: 'Announce', id: `${H}/a/1`, object: V, actor: `${H}/accounts/peertube` }, `${V}/activity`],
  first: 'relative/url', fleuveUnknownProperty: { nested: 1 }, unknownEmpty: {}, latitude: 48.85, longitude: 2, altitude: 1e21, radius: '12.5', accuracy: 100.0 };
async function sign(doc, privateKey, creator, created) {
  const sig = { type: 'RsaSignature2017', creator, created };
  const s = {'@context':['https://w3id.org/security/v1',{RsaSignature2017:'https://w3id.org/security#RsaSignature2017'}], creator, created};
  const ns = await norm(s), nd = await norm(doc);
  const signer = crypto.createSign('RSA-SHA256'); signer.update(sha(ns)+sha(nd),'utf8');
  return { ...doc, signature: { ...sig, signatureValue: signer.sign(privateKey,'base64') } };
}
async function main1() {
  const keys = JSON.parse(fs.readFileSync(here('../peertube/keys.json')));
  const signed = await sign(create, keys.privateKey, `${H}/accounts/alice`, '2025-01-07T10:00:00.000Z');
  out('peertube-create-video-signed.json', JSON.stringify(signed, null, 2)+'\n');
  out('peertube-create-video.nquads', await norm(create));
  out('ordered-collection-page.json', JSON.stringify(collection, null, 2)+'\n');
  out('ordered-collection-page.nquads', await norm(collection));
  const bb = JSON.parse(fs.readFileSync(here('../mastodon/bad-body-http-signature.json'))).body; delete bb.signature;
  out('mastodon-create.nquads', await norm(bb));
  out('signature-options.nquads', await norm({'@context':['https://w3id.org/security/v1',{RsaSignature2017:'https://w3id.org/security#RsaSignature2017'}], creator: 'http://localhost:3000/users/ronan2#main-key', created: '2018-10-22T13:34:19Z'}));
}
const cycles = {'@context': {p: {'@id': 'http://example.org/p', '@type': '@id'}, id: '@id'}, id: 'http://example.org/s',
  p: [ {id: '_:a', p: '_:b'}, {id: '_:b', p: '_:c'}, {id: '_:c', p: '_:a'}, {id: '_:d', p: '_:e'}, {id: '_:e', p: '_:d'}, {p: 'http://example.org/o'}, {p: 'http://example.org/o'} ]};
const features = {'@context': ['https://www.w3.org/ns/activitystreams', {
    '@language': 'FR', ex: 'http://example.org/ns#', label: 'ex:label', code: {'@id': 'ex:code', '@language': null},
    tags: {'@id': 'ex:tags', '@container': '@set'}, kind: {'@id': 'ex:kind', '@type': '@vocab'}, Thing: 'ex:Thing',
    hidden: null, ident: '@id', steps: {'@id': 'ex:steps', '@container': '@list'}, 'ex:direct': {'@type': 'xsd:integer'},
    mixed: {'@id': 'ex:mixed', '@type': '@id'} }],
  ident: 'http://example.org/thing/1', type: ['Thing', 'Note', 'ex:Other', 'http://example.org/Absolute'],
  label: 'étiquette', code: 'X1', tags: ['a', 'b', 'a'], kind: 'Thing', hidden: 'dropped',
  steps: ['one', {'@value': 'two', '@language': 'EN'}, 3, true, {label: 'nested'}], emptySteps: [],
  'ex:direct': '42', 'http://example.org/ns#absolute': {'@value': '2020-01-01', '@type': 'xsd:date'},
  mixed: ['ex:compact', 'relative', 'mailto:a@b.c', 42],
  nestedCtx: 'dropped', object: {'@context': {label: 'http://other.example/label'}, label: 'other', type: 'Note'},
  summary: {'@value': null}, name: {'@value': 'plain', '@language': 'De-AT'}, content: ['x', null, ['y']],
  attachment: {ident: '_:shared', label: 'shared'}, tag: {ident: '_:shared', code: 'same node'},
  audience: {ident: 'relative/node', label: 'relative subject'}, url: {'@id': 'http://example.org/ref'},
  startIndex: -0, totalItems: 1e-7, width: 0.1, height: -2.5e30, 'ex:big': 12345678901234567890 };
async function main2() {
  for (const [n, d] of [['blank-node-cycles', cycles], ['jsonld-features', features]]) {
    out(`${n}.json`, JSON.stringify(d, null, 2)+'\n');
    const q = await norm(d); out(`${n}.nquads`, q);
  }
}
main1().then(main2).catch(e => { console.error(e); process.exit(1); });
