"""A small OpenAI-compatible transcription server, standing in for vLLM serving a Whisper model.

It speaks the two calls the speech plugin makes of vLLM (``GET /v1/models`` and multipart
``POST /v1/audio/transcriptions``) and answers them with real transcriptions: faster-whisper decodes
the upload with its own FFmpeg reader and transcribes it, so nothing of the plugin's code runs here.
Run: ``python speech_whisper_api.py MODEL_DIR PORT [--api-key KEY] [--name NAME]``.
"""

from __future__ import annotations

import argparse
import io
from typing import Annotated, Any

import uvicorn
from fastapi import FastAPI, File, Form, Header, HTTPException, UploadFile


def create_app(model_dir: str, name: str, api_key: str | None) -> FastAPI:
    from faster_whisper import WhisperModel, decode_audio

    model = WhisperModel(model_dir, device="cpu", compute_type="int8")
    app = FastAPI()
    app.state.requests = 0

    def check_key(authorization: str | None) -> None:
        if api_key is not None and authorization != f"Bearer {api_key}":
            raise HTTPException(401, "missing or wrong API key")

    @app.get("/v1/models")
    def models(authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        check_key(authorization)
        return {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "test"}]}

    @app.get("/stats")
    def stats() -> dict[str, int]:
        return {"requests": app.state.requests}

    @app.post("/v1/audio/transcriptions")
    async def transcriptions(
        file: Annotated[UploadFile, File()],
        model_name: Annotated[str, Form(alias="model")],
        language: Annotated[str | None, Form()] = None,
        response_format: Annotated[str, Form()] = "json",
        authorization: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        check_key(authorization)
        if model_name != name:
            raise HTTPException(404, f"The model `{model_name}` does not exist.")
        audio = decode_audio(io.BytesIO(await file.read()), sampling_rate=16000)
        segments, info = model.transcribe(audio, language=language or "en", beam_size=5)
        app.state.requests += 1
        return {"text": " ".join(s.text.strip() for s in segments), "duration": info.duration}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir")
    parser.add_argument("port", type=int)
    parser.add_argument("--api-key")
    parser.add_argument("--name", default="whisper-tiny.en")
    args = parser.parse_args()
    app = create_app(args.model_dir, args.name, args.api_key)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
