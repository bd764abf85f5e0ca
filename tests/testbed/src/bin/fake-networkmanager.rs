//! A stand-in for NetworkManager for tests: owns
//! `org.freedesktop.NetworkManager` on the system bus and answers for
//! `/org/freedesktop/NetworkManager` with the `Metered` value given as its
//! only argument (NMMetered: 0 unknown, 1 yes, 2 no, 3 guess-yes, 4
//! guess-no), `State` 70 (connected globally) and `Connectivity` 4 (full).

struct NetworkManager {
    metered: u32,
}

#[zbus::interface(name = "org.freedesktop.NetworkManager")]
impl NetworkManager {
    #[zbus(property)]
    fn metered(&self) -> u32 {
        self.metered
    }

    #[zbus(property)]
    fn state(&self) -> u32 {
        70
    }

    #[zbus(property)]
    fn connectivity(&self) -> u32 {
        4
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let metered: u32 = std::env::args()
        .nth(1)
        .ok_or("usage: fake-networkmanager METERED")?
        .parse()?;
    zbus::block_on(async {
        let _connection = zbus::connection::Builder::system()
            .name("org.freedesktop.NetworkManager")
            .serve_at(
                "/org/freedesktop/NetworkManager",
                NetworkManager { metered },
            )
            .build()
            .await?;
        std::future::pending::<()>().await;
        Ok(())
    })
}
