//! The wire codec of the two request–response protocols (and the frames
//! of the transactions streams): a
//! length-prefixed borsh frame ([`hutong_wire::p2p`]) with a size limit
//! per direction, read and written over libp2p streams. A request that
//! does not decode is handed up as [`Inbound::Invalid`], for the network
//! to charge its sender.

use std::io;
use std::marker::PhantomData;

use borsh::{BorshDeserialize, BorshSerialize};
use futures::{AsyncReadExt, AsyncWriteExt};
use hutong_wire::p2p::{self, ConsensusEnvelope, SyncRequest, SyncResponse};
use libp2p::request_response;
use libp2p::StreamProtocol;

/// A request as read off the wire: decoded, or why it could not be.
///
/// libp2p's request–response reports nothing to the behaviour when a
/// codec fails to read a request (the stream is just dropped), so the
/// codec hands undecodable, oversized and truncated requests up as
/// `Invalid` for the network to penalise their sender.
#[derive(Debug, Clone)]
pub enum Inbound<T> {
    Valid(T),
    Invalid(String),
}

/// Length-prefixed borsh with a size limit per direction.
#[derive(Debug)]
pub struct BorshCodec<Req, Resp> {
    request_max: usize,
    response_max: usize,
    _types: PhantomData<fn() -> (Req, Resp)>,
}

impl<Req, Resp> Clone for BorshCodec<Req, Resp> {
    fn clone(&self) -> Self {
        BorshCodec {
            request_max: self.request_max,
            response_max: self.response_max,
            _types: PhantomData,
        }
    }
}

impl<Req, Resp> BorshCodec<Req, Resp> {
    pub(super) fn new(request_max: usize, response_max: usize) -> Self {
        BorshCodec {
            request_max,
            response_max,
            _types: PhantomData,
        }
    }
}

pub(super) async fn read_framed<T, R>(io: &mut R, max: usize) -> io::Result<T>
where
    T: BorshDeserialize,
    R: futures::AsyncRead + Unpin + Send,
{
    let mut prefix = [0u8; 4];
    io.read_exact(&mut prefix).await?;
    let len = p2p::body_len(prefix, max).map_err(invalid_data)?;
    let mut body = vec![0u8; len];
    io.read_exact(&mut body).await?;
    p2p::decode_body(&body).map_err(invalid_data)
}

fn invalid_data(e: p2p::FrameError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

async fn write_framed<T, W>(io: &mut W, value: &T, max: usize) -> io::Result<()>
where
    T: BorshSerialize,
    W: futures::AsyncWrite + Unpin + Send,
{
    let frame = p2p::encode_frame(value, max)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    io.write_all(&frame).await?;
    io.close().await
}

impl<Req, Resp> request_response::Codec for BorshCodec<Req, Resp>
where
    Req: BorshSerialize + BorshDeserialize + Send + Sync,
    Resp: BorshSerialize + BorshDeserialize + Send + Sync,
{
    type Protocol = StreamProtocol;
    type Request = Inbound<Req>;
    type Response = Resp;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Inbound<Req>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        match read_framed(io, self.request_max).await {
            Ok(req) => Ok(Inbound::Valid(req)),
            // The peer closed its side mid-message, or sent too much or
            // nonsense: its fault, reported rather than swallowed.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
                ) =>
            {
                Ok(Inbound::Invalid(e.to_string()))
            }
            Err(e) => Err(e),
        }
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        read_framed(io, self.response_max).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Inbound<Req>,
    ) -> io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        match req {
            Inbound::Valid(req) => write_framed(io, &req, self.request_max).await,
            Inbound::Invalid(why) => Err(io::Error::new(io::ErrorKind::InvalidInput, why)),
        }
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Resp,
    ) -> io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        write_framed(io, &res, self.response_max).await
    }
}

pub(super) type ConsensusCodec = BorshCodec<ConsensusEnvelope, ()>;
pub(super) type SyncCodec = BorshCodec<SyncRequest, SyncResponse>;
