// A stand-in for the version header of Asio 1.21 (bad input for halt.asio.too_old).
#pragma once
#define ASIO_VERSION 102100 // 1.21.0
